"""DuckDuckGo (and the other engines the `ddgs` metasearch library drives)."""
from __future__ import annotations

from tools.errors import SearchError
from tools.result import SearchResult


class DDG:
    name = "duckduckgo"

    def __init__(self, timeout: float = 5.0, region: str = "wt-wt", engines: str = "auto",
                 proxy: str | None = None):
        self.timeout, self.region, self.engines, self.proxy = timeout, region, engines, proxy

    def search(self, query: str, k: int = 5) -> list[SearchResult]:
        from ddgs import DDGS  # imported on use: it pulls in a sizeable HTTP stack
        from ddgs.exceptions import DDGSException

        try:
            # ddgs takes whole seconds; it bounds both each engine's request and the wait for them.
            hits = DDGS(proxy=self.proxy, timeout=max(1, round(self.timeout))).text(
                query, region=self.region, max_results=k, backend=self.engines
            )
        except DDGSException as e:
            if str(e) == "No results found.":
                return []
            raise SearchError(f"duckduckgo search failed (network down or rate-limited?): {e}") from None
        return [
            SearchResult(title=h.get("title", ""), url=h["href"], snippet=h.get("body", ""),
                         backend=self.name, rank=i)
            for i, h in enumerate(hits[:k], 1)
            if h.get("href")
        ]
