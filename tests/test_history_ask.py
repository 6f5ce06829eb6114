"""`sikao ask` records into the history: real bundled model, real processes, short generations."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app.store import Store

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def ask(*args, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "app", "ask", "--seed", "0", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, **kw)


def test_ask_logs_continues_survives_ctrl_c_and_honours_no_log():
    first = ask("--max-tokens", "4", "What is 2+2?")
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    with Store() as store:
        cid = store.last_conversation()
        user, answer = store.thread(cid)
        assert (user["role"], user["content"], store.conversation(cid)["title"]) == (
            "user", "What is 2+2?", "What is 2+2?")
        assert answer["complete"] and answer["content"] and answer["content"] in out
        assert answer["tokens_in"] > 0 and answer["tokens_out"] == 4 and answer["params"]["max_tokens"] == 4

    # -c continues the same conversation; Ctrl+C mid-answer keeps what was streamed, incomplete
    second = ask("-c", "--max-tokens", "4000", "Now tell me a very long story about a dragon.")
    start = os.read(second.stdout.fileno(), 4096).decode()  # the answer has started streaming
    assert start
    second.send_signal(signal.SIGINT)
    out, err = second.communicate(timeout=60)
    out = start + out
    assert second.returncode == 130 and "Traceback" not in err
    with Store() as store:
        thread = store.thread(cid)
        assert [m["role"] for m in thread] == ["user", "assistant", "user", "assistant"]
        partial = thread[-1]
        assert (partial["complete"], partial["finish_reason"]) == (False, "interrupted")
        assert partial["content"] and partial["content"] in out.replace("\n[stopped]", "")
        count = len(store.messages(cid))

    third = ask("--no-log", "--max-tokens", "2", "Unrecorded?")
    assert third.wait(timeout=300) == 0
    with Store() as store:
        assert len(store.conversations()) == 1 and len(store.messages(cid)) == count
        assert store.search("Unrecorded") == []


def test_ask_history_flag_errors_are_one_line(tmp_path):
    proc = ask("--cid", "42", "hello")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and err == "sikao: error: no conversation 42\n"
    proc = ask("-c", "--cid", "1", "hello")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "either --continue or --cid" in err
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"garbage" * 100)
    proc = ask("--db", str(bad), "hello")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "not a SQLite database" in err and bad.read_bytes() == b"garbage" * 100


def test_two_ask_processes_at_once_lose_no_message(tmp_path):
    db = tmp_path / "shared.db"
    procs = [ask("--db", str(db), "--max-tokens", "6", f"Question number {i}?") for i in (1, 2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    with Store(db) as store:
        convs = store.conversations()
        assert sorted(c["title"] for c in convs) == ["Question number 1?", "Question number 2?"]
        for c in convs:
            user, answer = store.thread(c["id"])
            assert user["role"] == "user" and answer["complete"] and answer["tokens_out"] > 0
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
