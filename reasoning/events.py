"""The one event stream every front end consumes (CLI, TUI, store, evals, server).

Events are plain dataclasses; `to_dict`/`from_dict` give the JSON-lines form used by
`sikao ask --json`, the server and the history store.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class Event:
    def to_dict(self) -> dict[str, Any]:
        return {"type": type(self).__name__, **asdict(self)}


@dataclass
class ThinkingDelta(Event):
    text: str
    branch: int = 0
    # DeepConf token confidence of the tokens behind this delta (mean over them); None when unknown.
    confidence: float | None = None
    tokens: int = 1  # the tokens behind it (reasoning/live.py writes a few together)


@dataclass
class AnswerDelta(Event):
    text: str
    branch: int = 0
    confidence: float | None = None
    tokens: int = 1


@dataclass
class SearchQuery(Event):
    query: str
    index: int = 0  # 0-based count of searches in this question
    branch: int = 0


@dataclass
class SearchResults(Event):
    query: str
    results: list[dict] = field(default_factory=list)  # tools.SearchResult.to_dict()
    backend: str = ""
    message: str = ""  # set instead of results for duplicate / over-limit / failed searches
    branch: int = 0


@dataclass
class DocumentNotes(Event):
    query: str
    notes: str
    branch: int = 0


@dataclass
class BranchStarted(Event):
    branch: int
    parent: int | None = None


@dataclass
class BranchPruned(Event):
    branch: int
    step: int
    confidence: float
    threshold: float
    reason: str = "low confidence"


@dataclass
class BranchFinished(Event):
    branch: int
    answer: str
    confidence: float
    tokens: int


@dataclass
class Vote(Event):
    answer: str
    weights: dict[str, float] = field(default_factory=dict)  # normalised answer -> total weight
    graph: dict = field(default_factory=dict)  # nodes / edges of the inference graph


@dataclass
class Notice(Event):
    """A budget or limit was hit, or something the user should know; never a silent cut."""

    kind: str  # e.g. "thinking_budget", "answer_budget", "search_limit", "wall_time", "truncated"
    message: str
    branch: int = 0


@dataclass
class Stats:
    prompt_tokens: int = 0
    thinking_tokens: int = 0
    answer_tokens: int = 0
    reading_tokens: int = 0  # Reason-in-Documents notes written by the same model
    searches: int = 0
    branches: int = 1
    pruned: int = 0
    elapsed: float = 0.0
    first_token: float = 0.0  # seconds to the first token: mostly the prompt's prefill
    tok_per_s: float = 0.0  # generation speed: see rate()
    finish_reason: str = "stop"  # stop | length | interrupted | error
    model: str = ""

    @property
    def complete(self) -> bool:
        return self.finish_reason in ("stop", "length")


@dataclass
class Done(Event):
    answer: str
    reasoning: str = ""
    stats: Stats = field(default_factory=Stats)


@dataclass
class Error(Event):
    message: str


def rate(tokens: int, elapsed: float, first_token: float) -> float:
    """Generation speed: the tokens after the first over the time after it, so a long prompt's
    prefill (or a model's load) does not read as slow generation; the whole run's average when
    there is no such interval."""
    if tokens > 1 and elapsed > first_token > 0:
        return (tokens - 1) / (elapsed - first_token)
    return tokens / elapsed if elapsed > 0 else 0.0


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (ThinkingDelta, AnswerDelta, SearchQuery, SearchResults, DocumentNotes, BranchStarted,
                BranchPruned, BranchFinished, Vote, Notice, Done, Error)
}


def from_dict(data: dict[str, Any]) -> Event:
    data = dict(data)
    cls = EVENT_TYPES[data.pop("type")]
    if cls is Done and isinstance(data.get("stats"), dict):
        known = {f.name for f in fields(Stats)}
        data["stats"] = Stats(**{k: v for k, v in data["stats"].items() if k in known})
    return cls(**data)
