"""`auto`: the configured online backend, and the local corpus when that one cannot be reached."""
from __future__ import annotations

from tools.errors import SearchError
from tools.result import SearchResult


class Auto:
    name = "auto"

    def __init__(self, online, local):
        self.online, self.local = online, local

    def search(self, query: str, k: int = 5) -> list[SearchResult]:
        try:
            return self.online.search(query, k)
        except SearchError as online_error:
            try:
                return self.local.search(query, k)
            except SearchError as local_error:
                raise SearchError(f"{online_error}; fallback failed too: {local_error}") from None
