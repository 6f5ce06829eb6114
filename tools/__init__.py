"""tools: web search, page reading and the offline corpus, behind two synchronous calls for the
reasoning layer:

    results = tools.search("query", backend="auto", k=5)
    pages = tools.read_pages(results, "query")   # one Page per result, .excerpt ready to read

Failures are typed (SearchError, FetchError, UnsafeURLError), one line each. The per-question
search budget belongs to the caller."""
from __future__ import annotations

import asyncio
import concurrent.futures
from dataclasses import replace
from pathlib import Path

from tools.auto import Auto
from tools.cache import Cache, Cached
from tools.corpus import Corpus
from tools.ddg import DDG
from tools.errors import FetchError, SearchError, ToolError, UnsafeURLError
from tools.fetch import FetchConfig, fetch_all
from tools.result import Page, SearchResult
from tools.searxng import SearXNG
from tools.window import window

__all__ = [
    "BACKENDS", "Cache", "Corpus", "FetchConfig", "FetchError", "Page", "SearchError", "SearchResult",
    "ToolError", "UnsafeURLError", "get_backend", "read_pages", "search", "window",
]
BACKENDS = ("auto", "duckduckgo", "searxng", "local")
ALIASES = {"ddg": "duckduckgo"}


def get_backend(name: str = "auto", *, searxng_url: str | None = None, corpus: Path | str | None = None,
                cache: Cache | None = None, timeout: float = 10.0, online: str | None = None):
    """A backend by name; online ones go through `cache` when given. `auto` uses `online`
    (default: searxng when a URL is set, else duckduckgo) and falls back to the local corpus."""
    name = ALIASES.get(name, name)
    if name == "local":
        return Corpus(corpus)
    if name == "auto":
        online = online or ("searxng" if searxng_url else "duckduckgo")
        if ALIASES.get(online, online) not in ("duckduckgo", "searxng"):
            raise SearchError(f"auto needs an online backend (duckduckgo or searxng), not {online!r}")
        first = get_backend(online, searxng_url=searxng_url, cache=cache, timeout=timeout)
        return Auto(first, Corpus(corpus))
    if name == "duckduckgo":
        backend = DDG(timeout=timeout)
    elif name == "searxng":
        if not searxng_url:
            raise SearchError("the searxng backend needs its URL (searxng_url, e.g. http://localhost:8888)")
        backend = SearXNG(searxng_url, timeout=timeout)
    else:
        raise SearchError(f"unknown search backend {name!r}: choose one of {', '.join(BACKENDS)}")
    return Cached(backend, cache) if cache else backend


def search(query: str, backend: str = "auto", k: int = 5, *, cache: Cache | bool = True,
           **cfg) -> list[SearchResult]:
    """Top-k results for query. cache=True uses the user cache dir, False none."""
    store = Cache() if cache is True else cache or None
    return get_backend(backend, cache=store, **cfg).search(query, k)


def read_pages(results: list[SearchResult], query: str = "", *, size: int = 3000,
               config: FetchConfig | None = None, cache: Cache | bool = True,
               corpus: Path | str | None = None) -> list[Page]:
    """One Page per result, in order. Web pages are fetched concurrently (cached by URL); local
    results are read from the corpus index. A page that cannot be read keeps the result's snippet
    as its excerpt and says why in .error."""
    cfg = config or FetchConfig()
    store = Cache() if cache is True else cache or None
    pages: dict[str, Page] = {}
    local = Corpus(corpus)
    for r in results:
        if r.backend == local.name:
            found = local.text(r.url)
            if found:
                title, body = found
                pages[r.url] = Page(r.url, title, body[: cfg.max_chars], truncated=len(body) > cfg.max_chars)
            else:
                pages[r.url] = Page(r.url, error=f"not in the corpus: {r.url}")
        elif store and (hit := store.page(r.url)):
            pages[r.url] = hit
    todo = list(dict.fromkeys(r.url for r in results if r.url not in pages))
    if todo:
        for url, page in zip(todo, _run(fetch_all(todo, cfg))):
            pages[url] = page
            if store and page.error is None:
                store.put_page(url, page)
    out = []
    for r in results:
        p = pages[r.url]
        out.append(replace(p, excerpt=window(p.text, r.snippet or query, size) if p.text else r.snippet))
    return out


def _run(coro):
    """asyncio.run, also from a thread whose event loop is already running (a TUI, a server)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
