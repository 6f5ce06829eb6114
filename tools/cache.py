"""SQLite cache in the user cache dir: search results by (backend, query) with a TTL, fetched
pages by URL. A connection per call keeps it safe across threads and processes."""
from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

from app.paths import cache_dir
from tools.result import Page, SearchResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS searches (
    backend TEXT, query TEXT, k INTEGER, results TEXT, at REAL, PRIMARY KEY (backend, query));
CREATE TABLE IF NOT EXISTS pages (url TEXT PRIMARY KEY, page TEXT, at REAL);
"""


class Cache:
    def __init__(self, path: Path | str | None = None, search_ttl: float = 86400.0,
                 page_ttl: float = 7 * 86400.0):
        self.path = Path(path) if path else cache_dir() / "tools.db"
        self.search_ttl, self.page_ttl = search_ttl, page_ttl
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextmanager
    def _db(self):
        db = sqlite3.connect(self.path, timeout=10)
        try:
            with db:  # commit on success, roll back on error
                yield db
        finally:
            db.close()

    def results(self, backend: str, query: str, k: int) -> list[SearchResult] | None:
        """Cached results if they are fresh and at least k were asked for when stored."""
        with self._db() as db:
            row = db.execute(
                "SELECT k, results FROM searches WHERE backend = ? AND query = ? AND at > ?",
                (backend, _norm(query), time.time() - self.search_ttl),
            ).fetchone()
        if row is None or row[0] < k:
            return None
        return [SearchResult.from_dict(d) for d in json.loads(row[1])[:k]]

    def put_results(self, backend: str, query: str, k: int, results: list[SearchResult]) -> None:
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO searches VALUES (?, ?, ?, ?, ?)",
                (backend, _norm(query), k, json.dumps([r.to_dict() for r in results]), time.time()),
            )

    def page(self, url: str) -> Page | None:
        with self._db() as db:
            row = db.execute(
                "SELECT page FROM pages WHERE url = ? AND at > ?", (url, time.time() - self.page_ttl)
            ).fetchone()
        return Page.from_dict(json.loads(row[0])) if row else None

    def put_page(self, url: str, page: Page) -> None:
        """Stored under the URL asked for, which may differ from page.url after redirects."""
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO pages VALUES (?, ?, ?)",
                (url, json.dumps(page.to_dict(), ensure_ascii=False), time.time()),
            )


def _norm(query: str) -> str:
    return " ".join(query.split()).lower()


class Cached:
    """A search backend whose answers go through the cache."""

    def __init__(self, backend, cache: Cache):
        self.backend, self.cache, self.name = backend, cache, backend.name

    def search(self, query: str, k: int = 5) -> list[SearchResult]:
        hit = self.cache.results(self.name, query, k)
        if hit is not None:
            return hit
        results = self.backend.search(query, k)
        if results:  # an empty answer is more likely a hiccup than the truth; ask again next time
            self.cache.put_results(self.name, query, k, results)
        return results
