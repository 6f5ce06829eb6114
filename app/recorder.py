"""Records one assistant answer into the store from the reasoning event stream, as it streams.

The message row is written first, marked incomplete (finish_reason "interrupted", complete 0),
then updated every `interval` seconds in its own short transaction. Whatever stops the stream
(Ctrl+C, an exception, SIGKILL) leaves the text generated so far, marked incomplete; only `Done`
marks it complete. Typical use:

    with store.recorder(cid, parent_id=user_id, model=name, params=params) as rec:
        for event in reasoning.run(question, opts):
            rec.feed(event)
            render(event)
"""
from __future__ import annotations

import time

from reasoning.events import (AnswerDelta, BranchFinished, BranchPruned, BranchStarted, DocumentNotes,
                              Done, Error, Event, Notice, SearchQuery, SearchResults, ThinkingDelta,
                              Vote)


class Recorder:
    def __init__(self, store, cid: int, parent_id: int | None, model: str = "",
                 params: dict | None = None, interval: float = 0.5):
        self.store = store
        self.model = model
        self.interval = interval
        self.thinking: dict[int, list[str]] = {}
        self.answer: dict[int, list[str]] = {}
        self.branches: dict[int, dict] = {}  # branch -> parent / pruned / finished, for the graph row
        self.searches: dict[tuple[int, str], int] = {}  # (branch, query) -> its latest search_calls id
        self.notices: list[dict] = []
        self.reason = "interrupted"  # what the row says until Done arrives
        self.done = False
        self.started = self.flushed = time.monotonic()
        self.id = store.add_message(cid, "assistant", "", parent_id, model=model, params=params or {},
                                    complete=0, finish_reason=self.reason)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        failed = kind is not None and not issubclass(kind, (KeyboardInterrupt, GeneratorExit))
        self.close("error" if failed else None)

    def feed(self, event: Event) -> None:
        if self.done:
            return
        match event:
            case ThinkingDelta(text=text, branch=b):
                self._add(self.thinking, b, text)
            case AnswerDelta(text=text, branch=b):
                self._add(self.answer, b, text)
            case SearchQuery(query=q, branch=b):
                self.flush()  # the reasoning that led to the search is on disk before the search
                self.searches[(b, q)] = self.store.add_search(self.id, q, b)
            case SearchResults(query=q, branch=b):
                self.store.update_search(self._search(b, q), backend=event.backend,
                                         results=event.results, message=event.message)
            case DocumentNotes(query=q, branch=b):
                self.store.update_search(self._search(b, q), notes=event.notes)
            case BranchStarted(branch=b, parent=parent):
                self.branches.setdefault(b, {})["parent"] = parent
            case BranchPruned(branch=b):
                self.branches.setdefault(b, {})["pruned"] = {
                    "step": event.step, "confidence": event.confidence,
                    "threshold": event.threshold, "reason": event.reason}
            case BranchFinished(branch=b):
                self.branches.setdefault(b, {})["finished"] = {
                    "answer": event.answer, "confidence": event.confidence, "tokens": event.tokens}
            case Vote():
                self.store.save_graph(self.id, answer=event.answer, weights=event.weights,
                                      graph=event.graph, branches=self._branch_summary())
            case Notice():
                self.notices.append({"kind": event.kind, "message": event.message, "branch": event.branch})
            case Error():
                self.notices.append({"kind": "error", "message": event.message, "branch": 0})
                self.reason = "error"
                self.flush()
            case Done():
                self._finish(event)

    def flush(self) -> None:
        """Write the text so far (the lead branch's), still marked incomplete."""
        lead = self._lead()
        self.store.update_message(
            self.id, content="".join(self.answer.get(lead, [])),
            reasoning="".join(self.thinking.get(lead, [])), finish_reason=self.reason,
            notices=self.notices, duration=round(time.monotonic() - self.started, 3))
        self.flushed = time.monotonic()

    def close(self, reason: str | None = None) -> None:
        """End without Done (interrupted, failed or cut short): save what there is, incomplete."""
        if self.done:
            return
        self.done = True
        self.reason = reason or self.reason
        self.flush()
        self._save_branches()

    def _add(self, texts: dict[int, list[str]], branch: int, text: str) -> None:
        texts.setdefault(branch, []).append(text)
        if time.monotonic() - self.flushed >= self.interval:
            self.flush()

    def _search(self, branch: int, query: str) -> int:
        sid = self.searches.get((branch, query))
        if sid is None:  # results without a preceding query event (e.g. search-first)
            sid = self.searches[(branch, query)] = self.store.add_search(self.id, query, branch)
        return sid

    def _lead(self) -> int:
        """The branch whose text stands for the answer while streaming: the first one not pruned."""
        seen = set(self.thinking) | set(self.answer) | set(self.branches)
        alive = {b for b in seen if "pruned" not in self.branches.get(b, {})}
        return min(alive or seen or {0})

    def _branch_summary(self) -> dict:
        return {str(b): {**self.branches.get(b, {}),
                         "thinking": "".join(self.thinking.get(b, [])),
                         "answer": "".join(self.answer.get(b, []))}
                for b in sorted(set(self.thinking) | set(self.answer) | set(self.branches))}

    def _save_branches(self) -> None:
        if len(set(self.thinking) | set(self.answer) | set(self.branches)) > 1:
            self.store.save_graph(self.id, branches=self._branch_summary())

    def _finish(self, done: Done) -> None:
        stats = done.stats
        lead = self._lead()
        elapsed = stats.elapsed or time.monotonic() - self.started
        tokens_out = stats.thinking_tokens + stats.answer_tokens
        self.done = True
        self.store.update_message(
            self.id, content=done.answer or "".join(self.answer.get(lead, [])),
            reasoning=done.reasoning or "".join(self.thinking.get(lead, [])),
            model=stats.model or self.model, tokens_in=stats.prompt_tokens, tokens_out=tokens_out,
            duration=round(elapsed, 3),
            tok_per_s=stats.tok_per_s or (round(tokens_out / elapsed, 2) if elapsed else None),
            finish_reason=stats.finish_reason, complete=int(stats.complete), notices=self.notices)
        self._save_branches()
