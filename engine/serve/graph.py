"""Requests for sikao's own modes (search inside the thought, parallel branches) run the
reasoning graph, `reasoning.run`, on a worker thread; its sequences join the engine loop's batch
through SharedLLM. Every event also rides on its chunk as `sikao` (clients ignore the field)."""
from __future__ import annotations

import asyncio
import threading
from typing import AsyncIterator

from engine.serve.protocol import ApiError, Job
from engine.serve.reply import Reply
from engine.serve.shared import SharedLLM


async def events(server, job: Job) -> AsyncIterator:
    from reasoning import Options, run

    o = Options(think=job.think, search=job.search, branches=job.branches,
                max_tokens=job.params.max_tokens, temperature=job.params.temperature,
                top_p=job.params.top_p, seed=job.params.seed)
    if job.max_thinking_tokens:
        o.max_thinking_tokens = job.max_thinking_tokens
    shared = SharedLLM(server.llm, server.engine)
    loop, inbox = asyncio.get_running_loop(), asyncio.Queue()
    put = lambda item: loop.call_soon_threadsafe(inbox.put_nowait, item)

    def work():
        try:
            for event in run(shared, job.messages, o):
                put(event)
        except Exception as err:  # after a cancel this is the unwinding, which nobody reads
            put(err)
        finally:
            shared.close()
            put(None)

    threading.Thread(target=work, name="sikao-graph", daemon=True).start()
    try:
        while (item := await inbox.get()) is not None:
            if isinstance(item, Exception):
                raise ApiError(500, f"the reasoning graph failed: {item}", type="server_error")
            yield item
    finally:
        shared.cancel()


def chunk(reply: Reply, event, branches: int) -> dict:
    """The stream chunk for one event. One line of thought streams as reasoning / content deltas;
    with several branches the voted answer (and the winner's reasoning) comes with `Done`."""
    from reasoning.events import AnswerDelta, Done, Error, ThinkingDelta

    extra = {"sikao": event.to_dict()}
    if isinstance(event, Error):
        raise ApiError(500, event.message, type="server_error")
    if isinstance(event, ThinkingDelta) and branches == 1:
        return reply.delta(reasoning=event.text, extra=extra)
    if isinstance(event, AnswerDelta) and branches == 1:
        return reply.delta(content=event.text, extra=extra)
    if isinstance(event, Done):
        s = event.stats
        reply.n_prompt, reply.n_out = s.prompt_tokens, s.thinking_tokens + s.answer_tokens + s.reading_tokens
        reply.finish_reason = "length" if s.finish_reason == "length" else "stop"
        if branches > 1:
            return reply.delta(event.reasoning, event.answer, reply.finish_reason, extra=extra)
        return reply.delta(finish=reply.finish_reason, extra=extra)
    return reply.delta(extra=extra)
