"""Reliability with real processes: SIGKILL and Ctrl+C mid-answer, two writers at once.

This file is also the child program: `python tests/test_store_crash.py stream|write …`.
"""
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _step(i: int) -> str:
    return f"step {i}. "


def child_stream(db: str) -> None:
    """Record an endless streaming answer; say "streaming" once some of it is on disk."""
    from app.store import Store
    from reasoning.events import ThinkingDelta

    store = Store(db)
    cid = store.new_conversation()
    user = store.add_user(cid, "Count forever, please.")
    fed = 0
    try:
        with store.recorder(cid, user, model="child", interval=0.02) as rec:
            while True:
                rec.feed(ThinkingDelta(_step(fed)))
                fed += 1
                if fed == 50:
                    print("streaming", flush=True)
                time.sleep(0.002)
    except KeyboardInterrupt:
        print(f"fed {fed}", flush=True)
        sys.exit(130)


def child_write(db: str, tag: str, count: int) -> None:
    """Record `count` complete exchanges in one conversation, every delta its own transaction."""
    from app.store import Store
    from reasoning.events import AnswerDelta, Done, Stats, ThinkingDelta

    with Store(db) as store:
        cid = store.new_conversation()
        print("ready", flush=True)
        sys.stdin.readline()  # start together with the other writer
        for i in range(count):
            user = store.add_user(cid, f"{tag} question {i}", parent_id=store.leaf(cid))
            with store.recorder(cid, user, interval=0) as rec:
                for part in ("thinking ", "about ", f"{tag} {i}"):
                    rec.feed(ThinkingDelta(part))
                    time.sleep(0.005)  # tokens arrive with gaps, which is when the other writer gets in
                rec.feed(AnswerDelta(f"{tag} answer {i}"))
                rec.feed(Done(f"{tag} answer {i}", stats=Stats(answer_tokens=3)))


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, *args], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _wait_streaming(proc: subprocess.Popen) -> None:
    line = proc.stdout.readline()
    assert line.strip() == "streaming", proc.stderr.read()


def _answer(db: Path) -> dict:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return dict(conn.execute("SELECT * FROM messages WHERE role = 'assistant'").fetchone())
    finally:
        conn.close()


def test_sigkill_mid_answer_leaves_a_consistent_database_with_the_partial_answer(tmp_path):
    db = tmp_path / "h.db"
    proc = _start("stream", str(db))
    _wait_streaming(proc)
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)

    row = _answer(db)
    assert (row["complete"], row["finish_reason"]) == (0, "interrupted")
    steps = row["reasoning"].count("step ")
    assert steps >= 50  # at least what was on disk when the child said so
    assert row["reasoning"] == "".join(_step(i) for i in range(steps))  # a clean prefix, no torn text

    from app.store import Store
    with Store(db) as store:  # the store opens it again and can keep writing
        cid = store.last_conversation()
        assert [m["role"] for m in store.thread(cid)] == ["user", "assistant"]
        assert store.search("forever")[0]["conversation_id"] == cid
        store.add_user(cid, "Are you still there?", parent_id=store.leaf(cid))


def test_ctrl_c_mid_answer_saves_every_delta_generated(tmp_path):
    db = tmp_path / "h.db"
    proc = _start("stream", str(db))
    _wait_streaming(proc)
    time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    fed = int(out.split()[-1])
    row = _answer(db)
    assert row["reasoning"] == "".join(_step(i) for i in range(fed))  # nothing lost
    assert (row["complete"], row["finish_reason"]) == (0, "interrupted")


def test_two_writers_at_once_lose_no_message(tmp_path):
    db = tmp_path / "fresh" / "h.db"  # both also race to create and migrate the file
    count = 40
    procs = [_start("write", str(db), tag, str(count)) for tag in ("alpha", "beta")]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err

    from app.store import Store
    with Store(db) as store:
        convs = store.conversations()
        assert len(convs) == 2
        spans = [(min(ids), max(ids)) for ids in ([m["id"] for m in store.messages(c["id"])] for c in convs)]
        assert max(lo for lo, _ in spans) < min(hi for _, hi in spans)  # the writes really interleaved
        for conv in convs:
            thread = store.thread(conv["id"])
            tag = thread[0]["content"].split()[0]
            assert len(thread) == 2 * count
            assert [m["content"] for m in thread[1::2]] == [f"{tag} answer {i}" for i in range(count)]
            assert all(m["complete"] for m in thread)
            assert [m["reasoning"] for m in thread[1::2]] == [f"thinking about {tag} {i}" for i in range(count)]
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    if mode == "stream":
        child_stream(*rest)
    else:
        child_write(rest[0], rest[1], int(rest[2]))
