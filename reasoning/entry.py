"""`run()`: the one entry point every front end drives. It turns a conversation into the typed
event stream of reasoning/events.py by running the graph of reasoning/graph.py (or, with `beams`,
a beam search: reasoning/beams.py); `Done` comes last, with the stats. Stopping early (closing the
generator, Ctrl+C) stops the graph's worker and drops every engine sequence the answer owned."""
from __future__ import annotations

import threading
import time
from queue import Queue
from typing import Iterator

from engine.chat import thinks_natively
from reasoning.beams import beam_answer
from reasoning.events import Done, Event, Notice, Stats, rate
from reasoning.graph import build
from reasoning.live import Cancelled, Live
from reasoning.options import Options


def run(llm, messages: list[dict] | str, opts: Options | None = None) -> Iterator[Event]:
    opts = opts or Options()
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    mode, notice = search_mode(llm, opts)
    live = Live(llm, opts, list(messages), mode,
                stats=Stats(model=llm.name, branches=opts.branches, finish_reason="interrupted"))
    try:
        if notice:
            yield notice
        yield from beam_answer(live) if opts.beams > 1 else _graph(live)
    finally:
        live.release()
        s = live.stats
        s.elapsed = time.monotonic() - live.started
        s.first_token = live.first - live.started if live.first is not None else 0.0
        s.tok_per_s = rate(s.thinking_tokens + s.answer_tokens, s.elapsed, s.first_token)
    yield Done(answer="".join(live.answer).strip(), reasoning="".join(live.thinking).strip(),
               stats=live.stats)


def _graph(live: Live) -> Iterator[Event]:
    queue: Queue = Queue()
    pump = threading.Thread(target=_pump, args=(live, queue), daemon=True, name="sikao-reasoning")
    pump.start()
    try:
        # The graph runs in threads: waiting here, not inside LangGraph (whose executor waits for
        # its running node on the way out), lets Ctrl+C and close() reach the finally at once.
        while (item := queue.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        live.cancel.set()
        pump.join()  # the node stops at its next engine step


_END = object()


def _pump(live: Live, queue: Queue) -> None:
    o = live.opts
    # Every pass through a cycle spends at least one token of a budget, which bounds the steps.
    limit = 10 + 3 * (o.max_searches + o.max_thinking_tokens + o.max_tokens)
    try:
        for event in build(live).stream({}, {"recursion_limit": limit}, stream_mode="custom"):
            queue.put(event)
    except Cancelled:
        pass
    except BaseException as err:  # handed to the consumer's thread, raised there
        queue.put(err)
    queue.put(_END)


def search_mode(llm, opts: Options) -> tuple[str, Notice | None]:
    """off | first | agentic. auto: agentic for models whose chat template thinks natively (the
    R1 / QwQ / Qwen3 families, which follow Search-o1's tags), search first for the others — the
    bundled SmolLM2 among them. Branches share one search first: agentic search is per sequence."""
    mode = opts.search
    if mode == "auto":
        mode = "agentic" if thinks_natively(llm.tokenizer) else "first"
    if mode == "agentic" and opts.branches > 1:
        return "first", Notice("search_mode", "agentic search runs on one branch; the "
                                              f"{opts.branches} branches share a search first")
    return mode, None
