"""The LLM as one in-server reasoning graph sees it (search, branches): its sequences decode in
the engine loop's batch together with plain requests.

`reasoning.run` drives an engine through add/fork/append/drop/step. Here those calls take the
LLM's lock and register the new sequences with the loop; `step()` does not run the model, it
waits for the loop's next step and returns that step's outputs for this graph's sequences.
"""
from __future__ import annotations

import queue

from engine.llm import LLM
from engine.sampling import SamplingParams
from engine.sequence import RUNNING, StepOutput
from engine.serve.loop import EngineLoop


class Cancelled(Exception):
    """The request went away; the graph's next step raises this so it unwinds and drops."""


class SharedLLM:
    def __init__(self, llm, engine: EngineLoop):
        self.llm, self.engine = llm, engine
        self.tokenizer, self.name, self.max_model_len = llm.tokenizer, llm.name, llm.max_model_len
        self.mine: set[int] = set()
        self.inbox: queue.Queue[list[StepOutput] | Exception] = queue.Queue()
        self.cancelled = False

    @property
    def seqs(self):
        return self.llm.seqs

    def seq(self, sid: int):
        return self.llm.seq(sid)

    def encode(self, text: str) -> list[int]:
        return self.llm.encode(text)

    def add(self, prompt, params: SamplingParams | None = None) -> int:
        with self.llm.lock:
            sid = self.llm.add(prompt, params)
            self._own([sid])
        self.engine.metrics.prompt_tokens.inc(self.llm.seq(sid).n_prompt)
        return sid

    def fork(self, sid: int, n: int, params: SamplingParams | None = None) -> list[int]:
        with self.llm.lock:
            kids = self.llm.fork(sid, n, params)
            self._own(kids)
        return kids

    def append(self, sid: int, text, params: SamplingParams | None = None) -> None:
        with self.llm.lock:
            self.llm.append(sid, text, params)
        self.engine.wake.set()

    def drop(self, sid: int) -> None:
        with self.llm.lock:
            self.engine.detach(sid)
            self.llm.drop(sid)
            self.mine.discard(sid)

    def has_running(self) -> bool:
        return any(self.llm.seqs[s].status == RUNNING for s in self.mine if s in self.llm.seqs)

    def step(self) -> list[StepOutput]:
        """The outputs of the loop's next step for this graph's sequences ([] when none runs)."""
        while True:
            if self.cancelled:  # outputs still queued behind the cancel are nobody's now
                raise Cancelled()
            with self.llm.lock:  # the loop delivers under this lock: nothing is half-delivered
                try:
                    outs = self.inbox.get_nowait()
                except queue.Empty:
                    if not self.has_running():
                        return []
                    outs = None
            if outs is None:
                outs = self.inbox.get()
            if isinstance(outs, Exception):
                raise outs
            mine = [o for o in outs if o.seq_id in self.mine]
            if mine:  # else every output was of a sequence dropped since: wait for the next step
                return mine

    def cancel(self) -> None:
        """Called on the server's event loop when the client left. The loop drops this graph's
        sequences before its next step, not when the graph thread, which may lag the loop by many
        steps, gets round to it; waiting here for the LLM's lock would stall every other stream."""
        self.cancelled = True
        self.engine.abandon(self.inbox.put)
        self.inbox.put(Cancelled())

    def close(self) -> None:
        for sid in list(self.mine):
            self.drop(sid)

    def _own(self, sids: list[int]) -> None:
        """Register new sequences (under llm.lock); after a cancel none may outlive it."""
        if self.cancelled:
            for sid in sids:
                self.llm.drop(sid)
            raise Cancelled()
        for sid in sids:
            self.mine.add(sid)
            self.engine.attach(sid, self.inbox.put)

    # written against add/step/seqs/drop, which this class provides
    stream = LLM.stream
    generate = LLM.generate
