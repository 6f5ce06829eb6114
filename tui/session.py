"""What stands behind the chat screen, without widgets: the model (loaded once, in the background),
the history store, and the answer being generated (a Job), run in a worker thread."""
from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable

from app.common import load_llm
from app.errors import UserError
from engine.errors import EngineError
from reasoning import Options, run
from reasoning.events import (AnswerDelta, Done, Error, Event, SearchQuery, Stats, ThinkingDelta,
                              rate)


@dataclass
class Job:
    """One answer being generated: to user message `user_id` of conversation `cid`."""
    cid: int
    user_id: int
    opts: Options
    started: float = field(default_factory=time.monotonic)
    events: list[tuple[float, Event]] = field(default_factory=list)  # (arrival time, event)
    message_id: int | None = None  # the assistant row, once the recorder has written it
    stop: threading.Event = field(default_factory=threading.Event)
    done: bool = False
    tokens: int = 0  # tokens streamed so far, until `stats` (from Done) gives the exact count
    first: float | None = None  # the first delta's arrival
    searches: int = 0
    stats: Stats | None = None

    def add(self, event: Event) -> None:
        self.events.append((time.monotonic(), event))
        if isinstance(event, (ThinkingDelta, AnswerDelta)):
            self.tokens += event.tokens
            self.first = self.first or self.events[-1][0]
        elif isinstance(event, SearchQuery):
            self.searches += 1
        elif isinstance(event, Done):
            self.stats = event.stats

    def tok_per_s(self, now: float) -> float:
        first = self.first - self.started if self.first is not None else 0.0
        return rate(self.tokens, now - self.started, first)


class Session:
    def __init__(self, store, opts: Options, model_args: dict, llm=None):
        self.store, self.opts, self.model_args = store, opts, model_args
        self.llm = llm
        self.lock = threading.Lock()

    def model(self, progress: Callable[[str, float], None] | None = None):
        """The model, loading it on first use; a second caller waits for the first's load."""
        with self.lock:
            if self.llm is None:
                self.llm = load_llm(**self.model_args, progress=progress)
            return self.llm

    def job(self, cid: int, user_id: int) -> Job:
        return Job(cid, user_id, replace(self.opts))

    def generate(self, job: Job, emit: Callable[[Job], None]) -> None:
        """Run one answer, recording it as it streams; called in a worker thread. Each event is
        added to the job, then `emit` tells the screen there is more to show. Between events
        it checks `job.stop`: closing the generator ends generation and the recorder keeps the
        partial answer, marked incomplete."""
        try:
            llm = self.model()
            messages = self.store.history_for_model(job.cid, job.user_id)
            with self.store.recorder(job.cid, job.user_id, model=llm.name, params=asdict(job.opts)) as rec:
                job.message_id = rec.id
                events = run(llm, messages, job.opts)
                try:
                    for event in events:
                        rec.feed(event)
                        job.add(event)
                        emit(job)
                        if job.stop.is_set():
                            break
                finally:
                    events.close()
        except (UserError, EngineError) as err:
            job.add(Error(str(err)))
            emit(job)
        finally:
            job.done = True
