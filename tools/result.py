"""The two records the tools hand to the rest of sikao: a search hit and a read page."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class SearchResult:
    title: str
    url: str  # a web URL, or an absolute file path for the local corpus
    snippet: str
    backend: str
    rank: int  # 1-based position in the backend's answer

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SearchResult:
        return cls(**_known(cls, d))


@dataclass
class Page:
    url: str
    title: str = ""
    text: str = ""  # main text, scripts and boilerplate stripped, capped in length
    excerpt: str = ""  # the window of text around the search snippet, what a model reads
    truncated: bool = False  # the body hit the size cap or the text hit the length cap
    error: str | None = None  # one line when the page could not be read

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Page:
        return cls(**_known(cls, d))


def _known(cls, d: dict) -> dict:
    # Dicts may come from a newer sikao (stored events, caches): ignore fields this one lacks.
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in d.items() if k in names}
