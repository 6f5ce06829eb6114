"""Page reading against a real loopback HTTP server: extraction, charsets, caps, redirects,
retries, timeouts, and the sync facade with its page cache."""
from __future__ import annotations

import asyncio
import time

import pytest

import tools
from tests.fixtures.tools.server import CHINESE, CYRILLIC, serve
from tools.fetch import FetchConfig, fetch_all

LOOPBACK = ("127.0.0.1",)


@pytest.fixture
def site():
    with serve() as server:
        yield server


def get(site, *paths, **cfg):
    cfg = FetchConfig(**{"timeout": 5.0, "allow_hosts": LOOPBACK, **cfg})
    return asyncio.run(fetch_all([site.url + p for p in paths], cfg))


def test_article_main_text_without_scripts_styles_or_boilerplate(site):
    [page] = get(site, "/article")
    assert page.error is None
    assert page.title == "The Migration of Arctic Terns"
    assert "longest migration of any animal" in page.text
    assert "Chicks fledge" in page.text  # the paragraph after an inline script survives
    for junk in ("SCRIPTJUNK", "STYLEJUNK", "Log in", "Cookie settings", "cheap feathers"):
        assert junk not in page.text


def test_plain_text_is_kept_as_is(site):
    [page] = get(site, "/plain")
    assert page.text == "Plain text notes about terns."


def test_non_utf8_pages_decode_by_header_and_by_meta(site):
    cp1251, gb2312 = get(site, "/cp1251", "/gb2312")
    assert CYRILLIC in cp1251.text  # charset from the Content-Type header
    assert CHINESE in gb2312.text  # charset only in <meta charset>


def test_unsupported_type_and_http_errors_are_page_errors(site):
    pdf, missing = get(site, "/pdf", "/missing")
    assert "unsupported content type application/pdf" in pdf.error
    assert "HTTP 404" in missing.error and not missing.text


def test_redirects_are_followed_and_capped(site):
    moved, loop = get(site, "/redirect", "/loop", max_redirects=3)
    assert moved.url == site.url + "/article" and "Arctic tern" in moved.text
    assert "more than 3 redirects" in loop.error
    assert site.hits["/loop"] == 4


def test_retries_5xx_with_backoff_then_succeeds(site):
    [page] = get(site, "/flaky", retries=2)
    assert page.text == "Finally up." and site.hits["/flaky"] == 3


def test_gives_up_after_the_retries(site):
    [page] = get(site, "/flaky", retries=1)
    assert "HTTP 503" in page.error and site.hits["/flaky"] == 2


def test_slow_page_times_out_quickly(site):
    t = time.monotonic()
    [page] = get(site, "/slow", timeout=0.5)
    assert time.monotonic() - t < 2.5
    assert page.error.startswith("timed out after 0.5s")


def test_oversize_page_is_cut_while_streaming(site):
    [page] = get(site, "/big", max_bytes=100_000, max_chars=1_000_000)
    assert page.truncated and page.error is None
    assert 99_000 < len(page.text) <= 100_000
    # The server offered 200 MB; the client hung up long before reading it.
    assert site.sent < 20 * 2**20


def test_text_length_cap(site):
    [page] = get(site, "/article", max_chars=200)
    assert len(page.text) == 200 and page.truncated


def test_many_pages_keep_order_and_one_failure_does_not_sink_the_rest(site):
    paths = ["/article", "/missing", "/plain", "/cp1251", "/gb2312", "/redirect"]
    pages = get(site, *paths, concurrency=2)
    assert [p.error is None for p in pages] == [True, False, True, True, True, True]
    assert pages[2].text.startswith("Plain text")


def test_concurrency_is_bounded(site):
    pages = get(site, *["/nap"] * 6, concurrency=2)
    assert all(p.text == "Rested." for p in pages)
    assert site.most_in_flight == 2


def test_unreachable_host_is_an_error_not_a_hang():
    t = time.monotonic()
    cfg = FetchConfig(timeout=2, allow_hosts=LOOPBACK)
    [page] = asyncio.run(fetch_all(["http://127.0.0.1:9/"], cfg))
    assert page.error and "ConnectError" in page.error
    assert time.monotonic() - t < 3


def test_read_pages_windows_around_the_snippet_and_caches(site, tmp_path):
    cache = tools.Cache(tmp_path / "cache.db")
    cfg = FetchConfig(timeout=5, allow_hosts=LOOPBACK)
    results = [
        tools.SearchResult("Terns", site.url + "/article", "feed on small fish and crustaceans", "searxng", 1),
        tools.SearchResult("Gone", site.url + "/missing", "a snippet to fall back on", "searxng", 2),
    ]
    article, missing = tools.read_pages(results, "terns", size=120, config=cfg, cache=cache)
    assert len(article.excerpt) == 120 and "crustaceans" in article.excerpt
    assert "HTTP 404" in missing.error and missing.excerpt == "a snippet to fall back on"
    again = tools.read_pages(results[:1], "terns", size=120, config=cfg, cache=cache)
    assert again[0].text == article.text
    assert site.hits["/article"] == 1  # the second read came from the cache
    assert site.hits["/missing"] == 1


def test_read_pages_inside_a_running_event_loop(site):
    results = [tools.SearchResult("Plain", site.url + "/plain", "", "searxng", 1)]

    async def caller():  # e.g. a Textual app or a server calling the sync facade
        return tools.read_pages(results, "terns", config=FetchConfig(allow_hosts=LOOPBACK), cache=False)

    [page] = asyncio.run(caller())
    assert page.excerpt == "Plain text notes about terns."


def test_window_centres_on_the_best_matching_sentence():
    text = "Filler words here. " * 300 + "The capital of France is Paris. " + "More filler text. " * 300
    w = tools.window(text, "capital of France", size=300)
    assert len(w) == 300 and "The capital of France is Paris." in w
    assert tools.window(text, "no overlap at all zzz", size=50) == text[:50]
    assert tools.window("short text", "anything") == "short text"
    cjk = "无关的句子。" * 200 + "北京是中国的首都。" + "其他内容。" * 200
    assert "北京是中国的首都" in tools.window(cjk, "中国的首都", size=60)


def test_decode_reads_labels_as_their_supersets_and_detects_the_rest():
    from tools.extract import decode

    assert decode("镕".encode("gbk"), "gb2312") == "镕"  # a GBK-only character under a gb2312 label
    assert decode("“quoted”".encode("cp1252"), "ISO-8859-1") == "“quoted”"
    assert decode("naïve café".encode("utf-8"), "no-such-charset") == "naïve café"
    assert decode(b'<meta charset="koi8-r">' + "привет".encode("koi8-r")).endswith("привет")
