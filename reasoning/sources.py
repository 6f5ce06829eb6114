"""What a search gives the reasoning layer: sources with the text the model reads. The searcher is
a plain callable (query -> list[Source]) so a front end or a test can bring its own; `web_searcher`
is the default, over tools' backends (web, SearXNG, the local corpus) and page reader."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass
class Source:
    title: str
    url: str
    snippet: str = ""
    text: str = ""  # what the model reads: the page window, or the snippet if the page failed
    backend: str = ""

    def to_dict(self, rank: int) -> dict:
        # The SearchResults event form (tools.SearchResult fields); rank is the citation number.
        return {"title": self.title, "url": self.url, "snippet": self.snippet,
                "backend": self.backend, "rank": rank}


Searcher = Callable[[str], list[Source]]


def web_searcher(backend: str = "auto", k: int = 5, page_chars: int = 1500, *,
                 searxng_url: str | None = None, corpus=None, timeout: float = 10.0,
                 allow_hosts=()) -> Searcher:
    """Search with a tools backend, then read each hit's page around the snippet. allow_hosts
    opens private addresses (an intranet SearXNG's result pages) to the page reader."""
    import tools
    from tools.fetch import FetchConfig

    fetch = FetchConfig(allow_hosts=tuple(allow_hosts))

    def search(query: str) -> list[Source]:
        results = tools.search(query, backend=backend, k=k, searxng_url=searxng_url,
                               corpus=corpus, timeout=timeout)
        pages = tools.read_pages(results, query, size=page_chars, config=fetch, corpus=corpus)
        return [Source(r.title or p.title, r.url, r.snippet, (p.excerpt or r.snippet)[:page_chars],
                       r.backend) for r, p in zip(results, pages)]

    return search
