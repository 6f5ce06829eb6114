"""SearXNG, the self-hosted metasearch engine, through its JSON API (`/search?format=json`)."""
from __future__ import annotations

import time

import httpx

from tools.errors import SearchError
from tools.result import SearchResult
from tools.retry import RETRY_STATUS, backoff


class SearXNG:
    name = "searxng"

    def __init__(self, url: str, timeout: float = 10.0, retries: int = 2):
        self.url, self.timeout, self.retries = url.rstrip("/"), timeout, retries

    def search(self, query: str, k: int = 5) -> list[SearchResult]:
        try:
            data = self._get(query)
        except httpx.HTTPError as e:
            raise SearchError(f"searxng at {self.url} unreachable: {type(e).__name__}: {e}") from None
        except ValueError:
            raise SearchError(f"searxng at {self.url} did not answer JSON") from None
        hits = [h for h in data.get("results", []) if h.get("url")]
        return [
            SearchResult(title=h.get("title", ""), url=h["url"], snippet=h.get("content") or "",
                         backend=self.name, rank=i)
            for i, h in enumerate(hits[:k], 1)
        ]

    def _get(self, query: str) -> dict:
        params = {"q": query, "format": "json"}
        with httpx.Client(timeout=self.timeout) as http:
            for attempt in range(self.retries + 1):
                resp = http.get(f"{self.url}/search", params=params)
                if resp.status_code not in RETRY_STATUS or attempt == self.retries:
                    break
                time.sleep(backoff(attempt, resp.headers.get("retry-after")))
        if resp.status_code == 403:  # SearXNG's answer when the json format is not enabled
            raise SearchError(
                f"searxng at {self.url} refused JSON: add `json` to search.formats in its settings.yml")
        if resp.status_code >= 400:
            raise SearchError(f"searxng at {self.url} answered HTTP {resp.status_code}")
        return resp.json()
