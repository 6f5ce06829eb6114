"""`sikao index` and `sikao search`, through click's runner and one real subprocess."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from tests.fixtures.tools.server import serve

CORPUS_DOCS = Path(__file__).parent / "fixtures" / "tools" / "corpus"


@pytest.fixture
def docs(tmp_path, monkeypatch):
    monkeypatch.setenv("SIKAO_CACHE_DIR", str(tmp_path / "cache"))
    return shutil.copytree(CORPUS_DOCS, tmp_path / "docs")


def sikao(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_index_list_search_remove(docs):
    r = sikao("index", docs)
    assert r.exit_code == 0 and "indexed 4 new, 0 changed, 0 unchanged, 0 removed" in r.output
    assert "indexed 0 new, 0 changed, 4 unchanged" in sikao("index", docs).output

    listed = sikao("index", "--list")
    assert listed.exit_code == 0
    assert str(docs / "owls.md") in listed.output and "Owls of the night" in listed.output
    assert "4 documents in" in listed.output

    found = sikao("search", "--backend", "local", "owls", "at", "night")
    assert found.exit_code == 0
    assert found.output.startswith(" 1. Owls of the night  [local]\n    " + str(docs / "owls.md"))

    as_json = json.loads(sikao("search", "-b", "local", "--json", "-n", "2", "river water").output)
    assert len(as_json) == 2 and as_json[0]["url"].endswith("rivers.html") and as_json[0]["rank"] == 1

    removed = sikao("index", "--remove", docs / "owls.md")
    assert removed.exit_code == 0 and "removed 1 document under" in removed.output
    assert "owls.md" not in sikao("index", "--list").output


def test_usage_errors_are_one_line(docs):
    r = sikao("index")
    assert r.exit_code == 2 and r.output.startswith("sikao: error: give folders or files to index")
    r = sikao("index", "--remove", docs / "never-indexed")
    assert r.exit_code == 2 and "nothing indexed under" in r.output
    r = sikao("search", "-b", "local", "owls")
    assert r.exit_code == 2 and "local corpus is empty" in r.output
    r = sikao("search", "-b", "searxng", "owls")
    assert r.exit_code == 2 and "needs its URL" in r.output


def test_search_searxng_and_cache(docs):
    with serve() as site:
        for _ in range(2):
            r = sikao("search", "--searxng-url", site.url, "arctic", "terns")
            assert r.exit_code == 0 and "Arctic terns  [searxng]" in r.output
        assert site.hits["/search"] == 1  # the second came from the cache in SIKAO_CACHE_DIR
        assert (Path(os.environ["SIKAO_CACHE_DIR"]) / "tools.db").exists()


def test_offline_search_in_a_real_process_is_one_line_and_nonzero(docs, tmp_path):
    env = {**os.environ, "SIKAO_DATA_DIR": str(tmp_path / "empty")}
    p = subprocess.run(
        [sys.executable, "-m", "app", "search", "--searxng-url", "http://127.0.0.1:9", "--timeout", "2", "owls"],
        capture_output=True, text=True, env=env, timeout=60, cwd=Path(__file__).parents[1],
    )
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("sikao: error: searxng at http://127.0.0.1:9 unreachable")


def test_search_reads_backend_and_url_from_config(docs):
    with serve() as site:
        assert sikao("config", "set", "searxng_url", site.url).exit_code == 0
        assert sikao("config", "set", "search_backend", "searxng").exit_code == 0
        r = sikao("search", "--no-cache", "terns")
        assert r.exit_code == 0 and "[searxng]" in r.output and site.hits["/search"] == 1
    sikao("index", docs)
    assert "[local]" in sikao("search", "-b", "local", "owls").output  # the flag wins over config
