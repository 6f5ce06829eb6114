"""The server's state: the engine loop, the response cache, the metrics and the limits; and the
one way a plain request gets its outputs (from the cache, or by joining the batch)."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import AsyncIterator

from engine.errors import PromptTooLong
from engine.sequence import StepOutput
from engine.serve.cache import LRU
from engine.serve.loop import EngineLoop, Ticket
from engine.serve.metrics import Metrics
from engine.serve.protocol import ApiError, Job, Limits

FLUSH = 1 / 60  # seconds between hand-offs of a request's outputs to the event loop (Handoff)


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"  # loopback unless asked: the API runs a model for whoever reaches it
    port: int = 8000
    api_key: str | None = None  # when set, every request but /health needs "Bearer <key>"
    served_name: str | None = None  # the model id clients use (default: the engine's model name)
    max_tokens: int = 4096  # the most one request may ask for (also capped by the context)
    default_tokens: int = 512  # when a request does not say
    max_body: int = 1 << 20  # bytes of request body
    cache_size: int = 256  # deterministic responses kept (0: no cache)
    max_batch: int = 32  # sequences decoding at once; later requests wait in the queue


class Server:
    def __init__(self, llm, config: ServeConfig | None = None):
        self.llm, self.config = llm, config or ServeConfig()
        self.metrics = Metrics()
        self.engine = EngineLoop(llm, self.metrics, self.config.max_batch)
        self.cache = LRU(self.config.cache_size)
        self.model = self.config.served_name or llm.name
        names = tuple(dict.fromkeys([self.model, llm.name, "default"]))
        most = min(self.config.max_tokens, llm.max_model_len - 1)
        self.limits = Limits(most, min(self.config.default_tokens, most), names)

    def encode(self, job: Job) -> list[int]:
        ids = self.llm.encode(job.prompt)
        param = "messages" if job.kind == "chat" else "prompt"
        if not ids:
            raise ApiError(400, "the prompt is empty", param=param)
        if len(ids) >= self.llm.max_model_len:
            raise ApiError(400, f"the prompt is {len(ids)} tokens but the model's context is "
                                f"{self.llm.max_model_len} tokens", param=param,
                           code="context_length_exceeded")
        return ids

    async def outputs(self, job: Job, ids: list[int]) -> AsyncIterator[StepOutput]:
        """The request's outputs, one per engine step, ending with the finished one. Leaving
        early (a client gone) takes its sequence out of the batch before the next step."""
        key = job.cache_key()
        hit = self.cache.get(key)
        if key is not None:
            self.metrics.cache.inc(result="hit" if hit else "miss")
        if hit is not None:
            for out in hit:
                yield out
            return
        loop, inbox = asyncio.get_running_loop(), asyncio.Queue()
        ticket = Ticket(ids, job.params, Handoff(loop, inbox.put_nowait))
        self.engine.submit(ticket)
        seen = []
        try:
            while True:
                outs = await inbox.get()
                if isinstance(outs, PromptTooLong):
                    raise ApiError(400, str(outs), code="context_length_exceeded")
                if isinstance(outs, Exception):
                    raise ApiError(500, str(outs), type="server_error")
                for out in outs:
                    seen.append(out)
                    yield out
                    if out.finished:
                        self.cache.put(key, seen)
                        return
        finally:
            self.engine.cancel(ticket)


class Handoff:
    """A ticket's outputs, handed to the event loop at most every FLUSH seconds: each hand-off
    wakes the loop's thread, which shares the cores with the engine. One that finishes goes at
    once, with what was held back; so does an error."""

    def __init__(self, loop: asyncio.AbstractEventLoop, put):
        self.loop, self.put, self.held, self.last = loop, put, [], 0.0

    def __call__(self, outs: list[StepOutput] | Exception) -> None:
        if isinstance(outs, Exception):
            if self.held:
                self.loop.call_soon_threadsafe(self.put, self.held)
            self.loop.call_soon_threadsafe(self.put, outs)
            return
        self.held += outs
        now = time.monotonic()
        if outs[-1].finished or now - self.last >= FLUSH:
            self.loop.call_soon_threadsafe(self.put, self.held)
            self.held, self.last = [], now
