"""Continuous batching: one thread steps the LLM while requests join and leave between steps.

A request is a `Ticket`: its prompt ids, its sampling params and a `deliver` callback. The loop
admits waiting tickets (up to `max_batch` running sequences), runs one `llm.step()` over every
running sequence, and hands each owner its outputs from that step in one call, on the loop's
thread (the server's callback hops to the asyncio loop with call_soon_threadsafe). A ticket's
sequence is dropped as soon as it finishes or its request is cancelled (client gone).

Other owners (the in-server reasoning graph, engine/serve/shared.py) add sequences to the LLM
themselves under `llm.lock` and register with `attach`; the loop steps them in the same batch.
"""
from __future__ import annotations

import sys
import threading
import traceback
from collections import deque
from dataclasses import dataclass
from typing import Callable

from engine.errors import EngineError
from engine.sampling import SamplingParams
from engine.sequence import RUNNING, StepOutput
from engine.serve.metrics import Metrics

Deliver = Callable[[list[StepOutput] | Exception], None]


@dataclass(eq=False)
class Ticket:
    prompt: list[int]
    params: SamplingParams
    deliver: Deliver
    sid: int | None = None
    cancelled: bool = False


class EngineLoop:
    def __init__(self, llm, metrics: Metrics, max_batch: int = 32):
        self.llm, self.metrics, self.max_batch = llm, metrics, max_batch
        self.waiting: deque[Ticket] = deque()
        self.tickets: dict[int, Ticket] = {}  # sid -> ticket, for sequences the loop drops itself
        self.owners: dict[int, Deliver] = {}  # sid -> where its outputs go
        self.abandoned: deque[Deliver] = deque()  # owners gone: drop their sequences
        self.wake = threading.Event()
        self.stopped = False
        self.thread = threading.Thread(target=self._run, name="sikao-engine", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped = True
        self.wake.set()
        self.thread.join()

    # -- called from other threads --------------------------------------------------------------
    def submit(self, ticket: Ticket) -> None:
        self.waiting.append(ticket)
        self.metrics.queue_depth.set(len(self.waiting))
        self.wake.set()

    def cancel(self, ticket: Ticket) -> None:
        """Leave the batch before the next step (a no-op once the ticket's sequence finished)."""
        ticket.cancelled = True
        self.wake.set()

    def attach(self, sid: int, deliver: Deliver) -> None:
        """Route a sequence added elsewhere (hold llm.lock across the add and this call)."""
        self.owners[sid] = deliver
        self.wake.set()

    def detach(self, sid: int) -> None:
        self.owners.pop(sid, None)

    def abandon(self, deliver: Deliver) -> None:
        """Drop, before the next step, every sequence whose outputs go to `deliver` (its owner
        left). Safe from the server's event loop: nothing here waits for the LLM's lock."""
        self.abandoned.append(deliver)
        self.wake.set()

    # -- the engine thread ----------------------------------------------------------------------
    def _run(self) -> None:
        while not self.stopped:
            if not self._admit():
                self.wake.wait()
                self.wake.clear()
                continue
            try:
                self._step()
            except Exception as err:  # a failed step must not leave every request waiting forever
                traceback.print_exc(file=sys.stderr)
                self._fail_all(err)

    def _admit(self) -> int:
        """Drop cancelled tickets, add waiting ones; the number of running sequences."""
        with self.llm.lock:
            for sid, ticket in list(self.tickets.items()):
                if ticket.cancelled:
                    self._release(sid)
            while self.abandoned:
                gone = self.abandoned.popleft()
                for sid in [s for s, deliver in self.owners.items() if deliver == gone]:
                    self._release(sid)
            running = sum(s.status == RUNNING for s in self.llm.seqs.values())
            while self.waiting and running < self.max_batch:
                ticket = self.waiting.popleft()
                if ticket.cancelled:
                    continue
                try:
                    ticket.sid = self.llm.add(ticket.prompt, ticket.params)
                except (EngineError, ValueError) as err:
                    ticket.deliver(err)
                    continue
                self.tickets[ticket.sid] = ticket
                self.owners[ticket.sid] = ticket.deliver
                self.metrics.prompt_tokens.inc(len(ticket.prompt))
                running += 1
            self.metrics.queue_depth.set(len(self.waiting))
            return running

    def _step(self) -> None:
        with self.llm.lock:
            outs = self.llm.step()
            groups: dict[Deliver, list[StepOutput]] = {}
            for out in outs:
                deliver = self.owners.get(out.seq_id)
                if deliver is not None:
                    groups.setdefault(deliver, []).append(out)
            for deliver, mine in groups.items():
                deliver(mine)
            for out in outs:
                if out.finished and out.seq_id in self.tickets:
                    self._release(out.seq_id)
            running = sum(s.status == RUNNING for s in self.llm.seqs.values())
        m = self.metrics
        m.steps.inc()
        m.batch_size.observe(len(outs))
        if len(outs) > 1:
            m.batched_steps.inc()
        m.generation_tokens.inc(len(outs))
        m.running.set(running)

    def _release(self, sid: int) -> None:
        self.tickets.pop(sid, None)
        self.owners.pop(sid, None)
        self.llm.drop(sid)

    def _fail_all(self, err: Exception) -> None:
        with self.llm.lock:
            for deliver in set(self.owners.values()):
                deliver(EngineError(f"the engine failed: {err}"))
            self.tickets.clear()
            self.owners.clear()
            for sid in list(self.llm.seqs):
                self.llm.drop(sid)
