"""The HTTP face: a Starlette app with OpenAI's routes, run by uvicorn.

Every failure a client can cause is an OpenAI error object with a 4xx code; anything else is a
500 with the same shape (the traceback goes to the server's log, never to the client)."""
from __future__ import annotations

import asyncio
import hmac
import json
import time
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

from engine.serve import graph
from engine.serve.protocol import ApiError, Job, parse_chat, parse_completion
from engine.serve.reply import Reply
from engine.serve.server import Server

PATHS = ("/v1/models", "/v1/chat/completions", "/v1/completions", "/metrics", "/health")


def create_app(server: Server) -> Starlette:
    @asynccontextmanager
    async def lifespan(app):
        server.engine.start()
        yield
        server.engine.stop()

    async def models(request: Request):
        llm = server.llm
        card = {"id": server.model, "object": "model", "created": int(time.time()),
                "owned_by": "sikao", "root": str(getattr(llm, "path", server.model)),
                "parent": None, "max_model_len": llm.max_model_len}
        return JSONResponse({"object": "list", "data": [card]})

    async def chat(request: Request):
        job = parse_chat(await read_json(request, server), server.llm.tokenizer, server.limits)
        return await respond(server, job, request)

    async def completions(request: Request):
        job = parse_completion(await read_json(request, server), server.limits)
        return await respond(server, job, request)

    async def metrics(request: Request):
        return PlainTextResponse(server.metrics.render(),
                                 media_type="text/plain; version=0.0.4; charset=utf-8")

    async def health(request: Request):
        return JSONResponse({"status": "ok"})

    routes = [Route("/v1/models", models), Route("/v1/chat/completions", chat, methods=["POST"]),
              Route("/v1/completions", completions, methods=["POST"]),
              Route("/metrics", metrics), Route("/health", health)]
    handlers = {ApiError: api_error, HTTPException: http_error, Exception: internal_error}
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)
    return Gate(app, server)


class Gate:
    """ASGI middleware: the API key check and the request counter (by endpoint and status)."""

    def __init__(self, app, server: Server):
        self.app, self.server = app, server
        key = server.config.api_key
        self.key = f"Bearer {key}".encode() if key else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"] if scope["path"] in PATHS else "other"

        async def counted(message):
            if message["type"] == "http.response.start":
                self.server.metrics.requests.inc(endpoint=path, status=str(message["status"]))
            await send(message)

        if self.key and path != "/health":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.key):
                err = ApiError(401, "Incorrect API key provided", type="invalid_request_error",
                               code="invalid_api_key")
                return await JSONResponse(err.body(), 401)(scope, receive, counted)
        await self.app(scope, receive, counted)


async def read_json(request: Request, server: Server):
    limit = server.config.max_body
    if int(request.headers.get("content-length") or 0) > limit:
        raise ApiError(413, f"the request body is larger than {limit} bytes")
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise ApiError(413, f"the request body is larger than {limit} bytes")
    try:
        return json.loads(body)
    except ValueError as err:  # JSONDecodeError and bad UTF-8
        raise ApiError(400, f"the request body is not valid JSON: {err}", code="invalid_json") from None


async def respond(server: Server, job: Job, request: Request):
    started = time.monotonic()
    if job.graph:
        reply = Reply("chat", server.model, 0)
        pieces = (graph.chunk(reply, e, job.branches) async for e in graph.events(server, job))
    else:
        ids = server.encode(job)
        reply = Reply(job.kind, server.model, len(ids), job.thinking, job.logprobs,
                      server.llm.tokenizer)
        pieces = (reply.feed(out) async for out in server.outputs(job, ids))
    pieces = timed(pieces, server, started)
    if job.stream:
        return StreamingResponse(sse(pieces, reply, job), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    work = asyncio.ensure_future(drain(pieces))
    gone = asyncio.ensure_future(disconnected(request))
    await asyncio.wait([work, gone], return_when=asyncio.FIRST_COMPLETED)
    gone.cancel()
    if not work.done():  # the client left: stop generating for it
        work.cancel()
        return JSONResponse(ApiError(499, "client closed the request").body(), 499)
    work.result()
    return JSONResponse(reply.whole())


async def timed(pieces, server: Server, started: float):
    """Observe time to first token and, once all is out, the latency."""
    first = True
    async for piece in pieces:
        if first:
            server.metrics.ttft.observe(time.monotonic() - started)
            first = False
        yield piece
    server.metrics.latency.observe(time.monotonic() - started)


async def sse(pieces, reply: Reply, job: Job):
    try:
        if job.kind == "chat":
            yield event(reply.first())
        async for chunk in pieces:
            if chunk is not None:
                yield event(chunk)
        if job.include_usage:
            yield event(reply.usage_chunk())
    except ApiError as err:  # the 200 is already out: the error goes in the stream, as vLLM does
        yield event(err.body())
    yield "data: [DONE]\n\n"


def event(obj: dict) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


async def drain(pieces) -> None:
    async for _ in pieces:
        pass


async def disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def api_error(request: Request, err: ApiError):
    return JSONResponse(err.body(), err.status)


async def http_error(request: Request, err: HTTPException):
    kind = {404: "not_found", 405: "method_not_allowed"}.get(err.status_code)
    return JSONResponse(ApiError(err.status_code, str(err.detail), code=kind).body(), err.status_code)


async def internal_error(request: Request, err: Exception):
    body = ApiError(500, f"internal error: {type(err).__name__}", type="server_error").body()
    return JSONResponse(body, 500)
