"""One answer in progress: the engine sequences it owns, the event sink, the budgets and clock, and
the decode loop every node streams through."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from engine.chat import build_prompt
from engine.sampling import SamplingParams
from reasoning.events import Event, Notice, Stats
from reasoning.options import Options
from reasoning.prompts import agentic_instruction, web_prompt

FLUSH = 1 / 60  # seconds between writes of held-back deltas (Live.delta)


class Cancelled(Exception):
    """The consumer stopped iterating (closed the generator, Ctrl+C): stop stepping now."""


@dataclass
class Stop:
    reason: str  # stop | length | time
    stop_str: str | None
    tokens: int
    text: str  # everything this call emitted


@dataclass
class Live:
    llm: object
    opts: Options
    messages: list[dict]
    mode: str  # the resolved search mode: off | first | agentic
    writer: Callable[[Event], None] | None = None  # set by each graph node (LangGraph's writer)
    stats: Stats = field(default_factory=Stats)
    thinking: list[str] = field(default_factory=list)
    answer: list[str] = field(default_factory=list)
    sids: set[int] = field(default_factory=set)
    cancel: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)
    first: float | None = None  # when the engine gave the first token (the prompt's prefill done)
    out_of_time: bool = False
    pending: dict = field(default_factory=dict)  # (delta kind, branch) -> (texts, confidences)
    flushed: float = 0.0  # when pending deltas were last written

    def emit(self, event: Event) -> None:
        """Write `event` after the deltas held back so far."""
        self.flush()
        self.writer(event)

    def delta(self, kind, text: str, branch: int, confidence: float) -> None:
        """A token's text as a `kind` delta. Deltas are held back and written together at most
        every FLUSH seconds: each write crosses two threads (LangGraph's, the consumer's) and
        wakes them, and one a token cost a stream 8 % of its speed (one branch thinking, 2
        threads, same process: 612 -> 663 tok/s; 8 branches 1,964 -> 2,004); a reader sees no
        difference at 60 updates a second."""
        texts, confs = self.pending.setdefault((kind, branch), ([], []))
        texts.append(text)
        confs.append(confidence)
        if time.monotonic() - self.flushed >= FLUSH:
            self.flush()

    def flush(self) -> None:
        for (kind, branch), (texts, confs) in self.pending.items():
            self.writer(kind("".join(texts), branch, sum(confs) / len(confs), len(texts)))
        self.pending.clear()
        self.flushed = time.monotonic()

    @property
    def question(self) -> str:
        return next((m["content"] for m in reversed(self.messages) if m["role"] == "user"), "")

    def prompt(self, sources: list | None = None) -> str:
        """The chat prompt: the last user turn wrapped in the web-search template (search first)
        or preceded by the Search-o1 instruction (agentic)."""
        content = self.question
        if sources:
            content = web_prompt(content, sources)
        elif self.mode == "agentic":
            content = agentic_instruction(self.opts.max_searches) + "\n\nQuestion:\n" + content
        msgs = list(self.messages)
        last = max(i for i, m in enumerate(msgs) if m["role"] == "user")
        msgs[last] = {**msgs[last], "content": content}
        return build_prompt(self.llm.tokenizer, msgs, think=self.opts.think, system=self.opts.system)

    def params(self, max_tokens: int, stop: list[str] = ()) -> SamplingParams:
        return SamplingParams(temperature=self.opts.temperature, top_p=self.opts.top_p,
                              seed=self.opts.seed, max_tokens=max(1, max_tokens), stop=list(stop))

    def add(self, prompt: str, params: SamplingParams) -> int:
        sid = self.llm.add(prompt, params)
        self.sids.add(sid)
        return sid

    def track(self, sids: list[int]) -> list[int]:
        self.sids.update(sids)
        return sids

    def drop(self, sid: int) -> None:
        self.sids.discard(sid)
        self.llm.drop(sid)

    def release(self) -> None:
        for sid in list(self.sids):
            self.drop(sid)

    def decode(self, sids: set[int]) -> Iterator:
        """Step the engine and yield the outputs of `sids` (the caller removes finished or dropped
        ones from the set) until the set is empty or the wall time runs out."""
        limit = self.opts.wall_time
        while sids:
            if self.cancel.is_set():
                raise Cancelled
            if self.out_of_time or limit is not None and time.monotonic() - self.started >= limit:
                if not self.out_of_time:
                    self.out_of_time = True
                    self.emit(Notice("wall_time", f"stopped at the {limit:g} s wall-time limit"))
                return
            outs = self.llm.step()
            if not outs:
                return
            if self.first is None:
                self.first = time.monotonic()
            for out in outs:
                if out.seq_id in sids:
                    yield out

    def stream(self, sid: int, kind, sink: list[str], branch: int = 0) -> Stop:
        """Stream one sequence as `kind` deltas into `sink` until it stops."""
        tokens, parts = 0, []
        for out in self.decode({sid}):
            tokens += 1
            if out.text:
                parts.append(out.text)
                sink.append(out.text)
                self.delta(kind, out.text, branch, out.confidence)
            if out.finished:
                return Stop(out.finish_reason, out.stop_str, tokens, "".join(parts))
        return Stop("time", None, tokens, "".join(parts))
