"""Search backends: SearXNG's JSON API on a loopback server, DuckDuckGo failing fast offline,
`auto` falling back to the local corpus, the result cache, and the backend factory."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

import tools
from tests.fixtures.tools.server import serve
from tools.auto import Auto
from tools.ddg import DDG
from tools.searxng import SearXNG

CORPUS_DOCS = Path(__file__).parent / "fixtures" / "tools" / "corpus"
DEAD = "http://127.0.0.1:9"  # nothing listens on the discard port: connections are refused at once


@pytest.fixture
def site():
    with serve() as server:
        yield server


@pytest.fixture
def corpus(tmp_path):
    c = tools.Corpus(tmp_path / "corpus.db")
    c.add([shutil.copytree(CORPUS_DOCS, tmp_path / "docs")])
    return c


def test_searxng_json_results(site):
    results = SearXNG(site.url).search("arctic terns", k=5)
    assert [r.rank for r in results] == [1, 2, 3]  # the hit without a URL is dropped
    first = results[0]
    assert (first.title, first.url, first.backend) == ("Arctic terns", site.url + "/article", "searxng")
    assert first.snippet == "Longest migration (arctic terns)"
    assert results[1].snippet == ""  # SearXNG sends null content for some engines
    assert SearXNG(site.url + "/").search("arctic terns", k=1)[0].rank == 1
    assert SearXNG(site.url).search("nothing") == []


def test_searxng_errors_are_one_line(site):
    with pytest.raises(tools.SearchError, match="unreachable"):
        SearXNG(DEAD, timeout=2).search("x")
    with pytest.raises(tools.SearchError, match="HTTP 404"):
        SearXNG(site.url + "/nope").search("x")


def test_duckduckgo_fails_fast_and_clearly_offline():
    t = time.monotonic()
    with pytest.raises(tools.SearchError, match="duckduckgo search failed") as err:
        DDG(timeout=2, proxy=DEAD).search("arctic tern migration")  # a proxy that refuses: offline
    assert "\n" not in str(err.value) and time.monotonic() - t < 10


def test_duckduckgo_without_a_proxy_answers_or_fails_within_its_timeout():
    # This machine has no route to the web; elsewhere this may get real results. Either way: no hang.
    t = time.monotonic()
    try:
        results = DDG(timeout=2).search("arctic tern migration", k=3)
        assert len(results) <= 3 and all(r.backend == "duckduckgo" for r in results)
    except tools.SearchError as e:
        assert str(e).startswith("duckduckgo search failed")
    assert time.monotonic() - t < 10


def test_auto_uses_the_online_backend_when_it_answers(site, corpus):
    results = tools.get_backend("auto", searxng_url=site.url, corpus=corpus.path).search("terns", 2)
    assert [r.backend for r in results] == ["searxng", "searxng"]


def test_auto_falls_back_to_the_local_corpus_when_offline(corpus):
    backend = tools.get_backend("auto", searxng_url=DEAD, corpus=corpus.path, timeout=2)
    results = backend.search("owls hunting at night", 3)
    assert results[0].backend == "local" and results[0].title == "Owls of the night"
    offline_ddg = Auto(DDG(timeout=2, proxy=DEAD), corpus)
    assert offline_ddg.search("green tea", 1)[0].url.endswith("tea.txt")


def test_auto_with_nothing_to_fall_back_on_says_both(tmp_path):
    backend = tools.get_backend("auto", searxng_url=DEAD, corpus=tmp_path / "empty.db", timeout=2)
    with pytest.raises(tools.SearchError, match="unreachable.*fallback failed too: the local corpus is empty"):
        backend.search("anything", 3)


def test_results_are_cached_by_backend_and_query(site, tmp_path):
    cache = tools.Cache(tmp_path / "cache.db")
    first = tools.search("Arctic  Terns", backend="searxng", k=2, cache=cache, searxng_url=site.url)
    again = tools.search("arctic terns", backend="searxng", k=1, cache=cache, searxng_url=site.url)
    assert again == first[:1] and site.hits["/search"] == 1
    tools.search("arctic terns", backend="searxng", k=3, cache=cache, searxng_url=site.url)
    assert site.hits["/search"] == 2  # more results than were stored: asked again
    tools.search("arctic terns", backend="searxng", k=2, cache=False, searxng_url=site.url)
    assert site.hits["/search"] == 3


def test_cache_expires(site, tmp_path):
    cache = tools.Cache(tmp_path / "cache.db", search_ttl=0.2)
    for _ in range(2):
        tools.search("terns", backend="searxng", cache=cache, searxng_url=site.url)
    time.sleep(0.3)
    tools.search("terns", backend="searxng", cache=cache, searxng_url=site.url)
    assert site.hits["/search"] == 2


def test_results_round_trip_as_dicts(site):
    [r] = SearXNG(site.url).search("terns", k=1)
    assert tools.SearchResult.from_dict(r.to_dict()) == r
    page = tools.Page(url=r.url, title="t", text="body", excerpt="b", truncated=True)
    assert tools.Page.from_dict({**page.to_dict(), "added_later": 1}) == page


def test_backend_factory(tmp_path):
    assert tools.get_backend("local", corpus=tmp_path / "c.db").name == "local"
    assert tools.get_backend("ddg").name == "duckduckgo"
    assert tools.get_backend("auto", corpus=tmp_path / "c.db").online.name == "duckduckgo"
    with pytest.raises(tools.SearchError, match="unknown search backend 'bing'"):
        tools.get_backend("bing")
    with pytest.raises(tools.SearchError, match="needs its URL"):
        tools.get_backend("searxng")


def test_read_pages_of_local_results_reads_the_index(corpus):
    results = corpus.search("Yangtze gorges", k=1)
    [page] = tools.read_pages(results, "Yangtze", cache=False, corpus=corpus.path)
    assert page.title == "Great rivers" and "Three Gorges" in page.excerpt and page.error is None
