"""SSRF protection: private, loopback and link-local addresses are refused after resolution and on
every redirect, unless the allowlist opens them; only http(s) is fetched."""
from __future__ import annotations

import asyncio
import ipaddress

import pytest

from tests.fixtures.tools.server import serve
from tools.errors import UnsafeURLError
from tools.fetch import FetchConfig, fetch_all
from tools.safety import Policy, is_public


@pytest.fixture
def site():
    with serve() as server:
        yield server


def fetch(url, allow=()):
    [page] = asyncio.run(fetch_all([url], FetchConfig(timeout=5, allow_hosts=allow)))
    return page


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://10.1.2.3/", "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/", "http://[fe80::1]/", "http://192.168.0.1/", "http://0.0.0.0/",
    "http://[::ffff:127.0.0.1]/", "https://172.16.5.5/",
])
def test_private_literal_addresses_are_refused_before_any_connection(url):
    page = fetch(url)
    assert page.error.startswith("refused") and "private, loopback or link-local" in page.error


def test_the_loopback_test_server_is_refused_without_the_allowlist(site):
    page = fetch(site.url + "/article")
    assert page.error.startswith("refused 127.0.0.1")
    assert sum(site.hits.values()) == 0  # refused before a request was sent


def test_a_name_is_checked_after_resolution(site):
    page = fetch(f"http://localhost:{site.server_port}/article")
    assert "refused localhost (" in page.error and sum(site.hits.values()) == 0
    page = fetch(f"http://localhost:{site.server_port}/article", allow=("127.0.0.1",))
    assert page.error is None and "Arctic tern" in page.text


@pytest.mark.parametrize("target", ["http://10.0.0.1/", "http://169.254.169.254/", "http://[::1]:{port}/article"])
def test_redirect_from_an_allowed_host_to_a_private_one_is_refused(site, target):
    # 127.0.0.1 is open; the addresses it redirects to are not.
    page = fetch(site.url + "/to?url=" + target.format(port=site.server_port), allow=("127.0.0.1",))
    assert page.error.startswith("refused") and "private, loopback or link-local" in page.error
    assert site.hits["/to"] == 1 and site.hits["/article"] == 0


def test_cidr_allowlist(site):
    assert fetch(site.url + "/plain", allow=("127.0.0.0/8",)).error is None
    assert fetch(site.url + "/plain", allow=("10.0.0.0/8",)).error.startswith("refused")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x", "gopher://example.org/"])
def test_only_http_and_https(url):
    assert "only http and https" in fetch(url).error


def test_redirect_to_another_scheme_is_refused(site):
    page = fetch(site.url + "/to?url=file:///etc/passwd", allow=("127.0.0.1",))
    assert "only http and https" in page.error


def test_policy():
    policy = Policy(["127.0.0.1", "10.0.0.0/8", "intranet.example", "[::1]"])
    policy.check_ip("intranet.example", "192.168.1.1")  # allowed by name
    policy.check_ip("x", "10.9.9.9")
    policy.check_ip("x", "::1")
    policy.check_ip("x", "93.184.216.34")  # public
    with pytest.raises(UnsafeURLError):
        policy.check_ip("x", "192.168.1.1")
    with pytest.raises(UnsafeURLError):
        Policy().check_url("http://[::1]:8080/")
    assert Policy().check_url("https://example.org/x") == "example.org"
    assert not is_public(ipaddress.ip_address("::ffff:10.0.0.1"))
    assert not is_public(ipaddress.ip_address("224.0.0.1"))
    assert is_public(ipaddress.ip_address("2606:4700::1111"))
