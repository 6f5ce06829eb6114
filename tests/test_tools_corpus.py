"""The offline corpus: a real SQLite FTS5 index over fixture documents."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tools.corpus import Corpus
from tools.errors import SearchError, ToolError

FIXTURES = Path(__file__).parent / "fixtures" / "tools" / "corpus"


@pytest.fixture
def docs(tmp_path):
    return Path(shutil.copytree(FIXTURES, tmp_path / "docs"))


@pytest.fixture
def corpus(tmp_path, docs):
    c = Corpus(tmp_path / "corpus.db")
    c.add([docs])
    return c


def test_indexes_supported_files_and_skips_hidden_and_others(corpus, docs):
    assert sorted(Path(d.path).name for d in corpus.documents()) == ["owls.md", "python.rst", "rivers.html", "tea.txt"]
    titles = {Path(d.path).name: d.title for d in corpus.documents()}
    assert titles == {"owls.md": "Owls of the night", "python.rst": "Python generators",
                      "rivers.html": "Great rivers", "tea.txt": "Green tea and black tea"}


def test_ranking_and_snippets(corpus, docs):
    results = corpus.search("which river carries the most water", k=3)
    assert results[0].url == str(docs / "rivers.html")
    assert results[0].backend == "local" and results[0].rank == 1
    assert "water" in results[0].snippet and "SCRIPTJUNK" not in results[0].snippet
    owls = corpus.search("owls hunting at night by sound")
    assert owls[0].title == "Owls of the night" and "night" in owls[0].snippet.lower()
    assert corpus.search("generators yield", k=1)[0].url.endswith("python.rst")
    assert corpus.search("brewing green tea")[0].url.endswith("tea.txt")


def test_stemming_and_query_syntax_is_inert(corpus):
    assert corpus.search("oxidising leaves")[0].url.endswith("tea.txt")  # porter: oxidised ~ oxidising
    assert corpus.search('owls" OR NEAR( -col:*')[0].url.endswith("owls.md")
    assert corpus.search("?!") == []
    assert corpus.search("zebra quantum") == []


def test_reindex_skips_unchanged_files(corpus, docs):
    stats = corpus.add([docs])
    assert (stats.added, stats.updated, stats.unchanged, stats.removed) == (0, 0, 4, 0)
    owls = docs / "owls.md"
    os.utime(owls, (1_000_000, 1_000_000))  # touched, not changed: the hash says so
    stats = corpus.add([docs])
    assert (stats.updated, stats.unchanged) == (0, 4)


def test_reindex_picks_up_changes_additions_and_deletions(corpus, docs):
    (docs / "tea.txt").write_text("Oolong is partly oxidised tea from Taiwan.\n")
    (docs / "sub").mkdir()
    (docs / "sub" / "comets.md").write_text("# Comets\nComets grow tails near the sun.\n")
    (docs / "python.rst").unlink()
    stats = corpus.add([docs])
    assert (stats.added, stats.updated, stats.unchanged, stats.removed) == (1, 1, 2, 1)
    assert corpus.search("oolong taiwan")[0].url.endswith("tea.txt")
    assert corpus.search("brewing below boiling") == []  # the old text is gone from the index
    assert corpus.search("comet tails")[0].title == "Comets"
    assert corpus.search("generators") == []


def test_remove_a_file_and_a_folder(corpus, docs):
    assert corpus.remove(docs / "owls.md") == 1
    assert corpus.search("owls") == []
    assert corpus.remove(docs / "nothing-here") == 0
    assert corpus.remove(docs) == 3
    assert corpus.documents() == []


def test_text_of_a_document(corpus, docs):
    title, body = corpus.text(str(docs / "rivers.html"))
    assert title == "Great rivers" and "Yangtze" in body and "SCRIPTJUNK" not in body
    assert corpus.text("/not/indexed") is None


def test_empty_or_missing_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(SearchError, match="local corpus is empty"):
        Corpus(tmp_path / "none.db").search("anything")
    assert not (tmp_path / "none.db").exists()
    with pytest.raises(ToolError, match="no such file or folder"):
        Corpus(tmp_path / "c.db").add([tmp_path / "missing"])

