"""The default searcher over real HTTP: SearXNG results on a loopback server, pages read only
where the allowlist opens private addresses (config `allow_hosts`)."""
from reasoning.sources import web_searcher
from tests.fixtures.tools.server import serve


def test_web_searcher_reads_allowed_private_pages():
    with serve() as site:
        search = web_searcher("searxng", k=2, searxng_url=site.url, allow_hosts=["127.0.0.1"],
                              timeout=5)
        sources = search("arctic terns")
    assert [s.title for s in sources] == ["Arctic terns", "Plain notes"]
    assert site.hits["/article"] == 1
    article = sources[0]
    assert article.url.endswith("/article") and article.backend == "searxng"
    assert article.text and article.text != article.snippet  # the page was read


def test_private_pages_are_refused_without_the_allowlist():
    with serve() as site:
        sources = web_searcher("searxng", k=2, searxng_url=site.url, timeout=5)("arctic terns")
    assert site.hits["/article"] == 0  # refused before any request was sent
    assert sources[0].text == sources[0].snippet  # the model reads the snippet instead
