"""`sikao history …` against a real history file."""
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.store import Store, default_path
from reasoning.events import (AnswerDelta, DocumentNotes, Done, SearchQuery, SearchResults, Stats,
                              ThinkingDelta)

ROOT = Path(__file__).resolve().parents[1]


def sikao(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def conv():
    """One conversation in the default history: a searched, complete answer and an interrupted retry."""
    with Store() as store:
        cid = store.new_conversation()
        q = store.add_user(cid, "What is the capital of France?")
        with store.recorder(cid, q, model="tiny") as rec:
            for event in [ThinkingDelta("Let me think.\nIt is Paris."), SearchQuery("capital of france"),
                          SearchResults("capital of france", [{"title": "Paris", "url": "https://ex.org/paris"}],
                                        backend="local"),
                          DocumentNotes("capital of france", "Paris is the capital."), AnswerDelta("Paris.")]:
                rec.feed(event)
            rec.feed(Done("Paris.", "Let me think.\nIt is Paris.", Stats(answer_tokens=2, elapsed=1.0)))
        with store.recorder(cid, q, model="tiny") as retry:
            retry.feed(AnswerDelta("It is Par"))
        other = store.new_conversation()
        store.add_user(other, "How do tides work?")
    return {"cid": cid, "answer": rec.id, "retry": retry.id, "other": other}


def test_list_newest_first(conv):
    result = sikao("history", "list")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split()[0] == str(conv["other"]) and "How do tides work?" in lines[0]
    assert lines[1].split()[0] == str(conv["cid"]) and "3 msgs" in lines[1]
    assert len(sikao("history", "list", "-n", "1").output.splitlines()) == 1


def test_list_without_history_and_with_missing_db(tmp_path):
    assert sikao("history", "list").output == "no conversations yet\n"
    assert not default_path().exists()  # reading never creates a history
    result = sikao("history", "list", "--db", str(tmp_path / "typo.db"))
    assert result.exit_code == 2 and "no history database at" in result.output


def test_search_finds_reasoning_and_answers(conv):
    result = sikao("history", "search", "paris")
    assert result.exit_code == 0
    assert f"#{conv['answer']}" in result.output and "[Paris]" in result.output
    assert "no matches" in sikao("history", "search", "volcano").output


def test_show_follows_newest_branch_or_leaf(conv):
    newest = sikao("history", "show", str(conv["cid"])).output
    assert "It is Par" in newest and "incomplete: interrupted" in newest and "2 versions" in newest
    assert "Paris." not in newest
    chosen = sikao("history", "show", str(conv["cid"]), "--leaf", str(conv["answer"])).output
    assert "│ Let me think." in chosen and "capital of france  1 result via local" in chosen
    assert chosen.rstrip().endswith("Paris.")


def test_export_markdown_collapses_reasoning_and_lists_searches(conv, tmp_path):
    out = tmp_path / "c.md"
    result = sikao("history", "export", str(conv["cid"]), "--leaf", str(conv["answer"]), "-o", str(out))
    assert result.exit_code == 0
    md = out.read_text()
    assert md.startswith("# What is the capital of France?\n")
    assert "<details><summary>Reasoning</summary>\n\n> Let me think.\n> It is Paris.\n\n</details>" in md
    assert "- `capital of france`: 1 result via local\n  - [Paris](https://ex.org/paris)" in md
    assert "> Paris is the capital." in md
    assert md.rstrip().endswith("Paris.")


def test_export_json_holds_every_branch(conv):
    data = json.loads(sikao("history", "export", str(conv["cid"]), "--format", "json").output)
    assert data["conversation"]["title"] == "What is the capital of France?"
    ids = [m["id"] for m in data["messages"]]
    assert conv["answer"] in ids and conv["retry"] in ids
    answer = next(m for m in data["messages"] if m["id"] == conv["answer"])
    assert answer["search_calls"][0]["notes"] == "Paris is the capital." and answer["complete"] is True


def test_delete_asks_unless_yes(conv):
    assert sikao("history", "delete", str(conv["cid"]), input="n\n").exit_code == 1
    assert str(conv["cid"]) in sikao("history", "list").output.split()
    result = sikao("history", "delete", str(conv["cid"]), "-y")
    assert result.exit_code == 0 and "deleted conversation" in result.output
    assert [line.split()[0] for line in sikao("history", "list").output.splitlines()] == [str(conv["other"])]
    assert sikao("history", "search", "paris").output.startswith("no matches")


def test_unknown_id_is_one_line_error(conv):
    result = sikao("history", "show", "999")
    assert result.exit_code == 2 and result.output == "sikao: error: no conversation 999\n"


def test_foreign_db_via_cli_is_one_line_error_and_untouched(tmp_path):
    path = tmp_path / "notes.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    proc = subprocess.run([sys.executable, "-m", "app", "history", "list", "--db", str(path)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("sikao: error: ") and len(proc.stderr.splitlines()) == 1
    assert "another program's SQLite database" in proc.stderr and "Traceback" not in proc.stderr
    assert path.read_bytes() == before
