"""Reading web pages: async httpx with pooled connections, a total deadline per page, redirects
followed by hand (each hop re-checked), a streamed size cap, a content-type check, charset
decoding and main-text extraction. Several pages are fetched at once, up to a bound."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urljoin

import httpcore
import httpx

from tools.errors import FetchError, ToolError
from tools.extract import decode, html_text
from tools.result import Page
from tools.retry import RETRY_STATUS, backoff
from tools.safety import Guard, Policy

HTML_TYPES = ("text/html", "application/xhtml+xml")
TEXT_TYPES = ("text/plain", "text/markdown")


@dataclass
class FetchConfig:
    timeout: float = 15.0  # seconds of network time for one page: DNS, all hops and retries
    max_redirects: int = 5
    max_bytes: int = 2_000_000  # body bytes read; the rest of a larger page is never downloaded
    max_chars: int = 50_000  # extracted text kept per page
    concurrency: int = 4
    retries: int = 2  # extra tries on 429 and 5xx
    allow_hosts: tuple[str, ...] = ()  # private hosts, IPs or CIDRs that may be fetched anyway
    user_agent: str = "Mozilla/5.0 (compatible; sikao/0.1)"


def client(cfg: FetchConfig) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport()
    # httpx has no public hook on the connect step; httpcore's pool takes a network backend,
    # and that is where resolved addresses are checked.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=cfg.concurrency * 2,
        max_keepalive_connections=cfg.concurrency,
        keepalive_expiry=5.0,
        network_backend=Guard(Policy(cfg.allow_hosts)),
    )
    return httpx.AsyncClient(
        transport=transport,
        timeout=cfg.timeout,
        headers={"User-Agent": cfg.user_agent, "Accept": "text/html,text/plain;q=0.9,*/*;q=0.1"},
        trust_env=False,  # a proxy would connect on our behalf, past the address check
    )


async def fetch(http: httpx.AsyncClient, url: str, cfg: FetchConfig) -> Page:
    """One page, or FetchError (UnsafeURLError for refused addresses)."""
    try:
        async with asyncio.timeout(cfg.timeout):
            final, mime, raw, truncated = await _follow(http, url, cfg)
    except TimeoutError:
        raise FetchError(f"timed out after {cfg.timeout:g}s: {url}") from None
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as e:
        raise FetchError(f"{type(e).__name__}: {e or 'failed'} ({url})") from None
    if mime in HTML_TYPES:  # extraction is CPU work: off the event loop, outside the network deadline
        title, text = await asyncio.to_thread(html_text, raw, final)
    else:
        title, text = "", raw.strip()
    if len(text) > cfg.max_chars:
        text, truncated = text[: cfg.max_chars], True
    return Page(url=final, title=title, text=text, truncated=truncated)


async def _follow(http: httpx.AsyncClient, url: str, cfg: FetchConfig):
    policy = Policy(cfg.allow_hosts)
    for _ in range(cfg.max_redirects + 1):
        policy.check_url(url)
        resp = await _send(http, url, cfg)
        try:
            if resp.is_redirect:
                url = urljoin(url, resp.headers["location"])
                continue
            return (url, *await _read(resp, url, cfg))
        finally:
            await resp.aclose()
    raise FetchError(f"more than {cfg.max_redirects} redirects: {url}")


async def _send(http: httpx.AsyncClient, url: str, cfg: FetchConfig) -> httpx.Response:
    """A streamed GET; 429 and 5xx are retried with backoff, the last answer is returned as is."""
    for attempt in range(cfg.retries):
        resp = await http.send(http.build_request("GET", url), stream=True)
        if resp.status_code not in RETRY_STATUS:
            return resp
        await resp.aclose()
        await asyncio.sleep(backoff(attempt, resp.headers.get("retry-after")))
    return await http.send(http.build_request("GET", url), stream=True)


async def _read(resp: httpx.Response, url: str, cfg: FetchConfig) -> tuple[str, str, bool]:
    if resp.status_code >= 400:
        raise FetchError(f"HTTP {resp.status_code} for {url}")
    mime = resp.headers.get("content-type", "text/html").split(";")[0].strip().lower()
    if mime not in HTML_TYPES + TEXT_TYPES:
        raise FetchError(f"unsupported content type {mime}: {url}")
    body, truncated = bytearray(), False
    async for chunk in resp.aiter_bytes():
        body += chunk
        if len(body) >= cfg.max_bytes:
            del body[cfg.max_bytes :]
            truncated = True
            break
    return mime, decode(bytes(body), resp.charset_encoding), truncated


async def fetch_all(urls: list[str], cfg: FetchConfig) -> list[Page]:
    """Pages in the order of urls; a page that failed has .error set instead of raising."""
    gate = asyncio.Semaphore(cfg.concurrency)

    async def one(http, url):
        async with gate:
            try:
                return await fetch(http, url, cfg)
            except ToolError as e:
                return Page(url=url, error=str(e))

    async with client(cfg) as http:
        return await asyncio.gather(*(one(http, u) for u in urls))
