"""The history store on real SQLite files: conversations, branching threads, FTS, file checks."""
import sqlite3

import pytest

from app.migrations import APP_ID, LATEST
from app.store import Store, StoreError, default_path, title_from


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "h.db") as s:
        yield s


def test_default_path_follows_data_dir(tmp_path):
    with Store() as s:
        assert s.path == tmp_path / "data" / "history.db" == default_path()
        assert s.path.exists()


def test_new_file_is_wal_versioned_and_enforces_foreign_keys(store):
    db = store.db
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == LATEST
    assert db.execute("PRAGMA application_id").fetchone()[0] == APP_ID
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with pytest.raises(StoreError, match="no conversation 99"):
        store.add_user(99, "hi")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO messages (conversation_id, role, created) VALUES (99, 'user', 'now')")


def test_reopen_keeps_data_and_does_not_migrate_again(tmp_path):
    with Store(tmp_path / "h.db") as s:
        cid = s.new_conversation()
        s.add_user(cid, "first question")
    with Store(tmp_path / "h.db") as s:
        assert [c["title"] for c in s.conversations()] == ["first question"]
        assert s.db.execute("PRAGMA user_version").fetchone()[0] == LATEST


def test_title_comes_from_first_question_only(store):
    cid = store.new_conversation()
    first = store.add_user(cid, "\n  How   do   magnets\twork?\nMore detail here.")
    store.add_user(cid, "second question", parent_id=first)
    assert store.conversation(cid)["title"] == "How do magnets work?"
    long = title_from("word " * 40)
    assert len(long) <= 61 and long.endswith("…") and not long.endswith(" …")
    assert title_from("x" * 100) == "x" * 60 + "…"


def test_conversations_newest_first_with_counts_rename_delete(store):
    a = store.new_conversation(model="m1", settings={"think": True})
    store.add_user(a, "alpha")
    b = store.new_conversation()
    store.add_user(b, "beta")
    assert [c["id"] for c in store.conversations()] == [b, a]
    store.add_user(a, "alpha again", parent_id=store.leaf(a))  # activity moves a to the top
    rows = store.conversations()
    assert [(c["id"], c["messages"]) for c in rows] == [(a, 2), (b, 1)]
    assert rows[0]["settings"] == {"think": True} and rows[0]["model"] == "m1"
    assert store.last_conversation() == a
    assert [c["id"] for c in store.conversations(limit=1)] == [a]
    store.rename(b, "renamed")
    assert store.conversation(b)["title"] == "renamed"
    store.delete(a)
    assert [c["id"] for c in store.conversations()] == [b]
    assert store.db.execute("SELECT count(*) FROM messages WHERE conversation_id = ?", [a]).fetchone()[0] == 0
    with pytest.raises(StoreError, match=f"no conversation {a}"):
        store.conversation(a)


def test_edits_and_regenerations_branch_instead_of_overwriting(store):
    cid = store.new_conversation()
    q1 = store.add_user(cid, "q1")
    a1 = store.add_message(cid, "assistant", "a1", q1, reasoning="r1")
    q2 = store.add_user(cid, "q2", parent_id=a1)
    a2 = store.add_message(cid, "assistant", "a2", q2)
    a2b = store.add_message(cid, "assistant", "a2 regenerated", q2)  # regenerate
    q2b = store.add_user(cid, "q2 edited", parent_id=a1)  # edit of q2
    a2c = store.add_message(cid, "assistant", "a2 for the edit", q2b)

    assert [m["id"] for m in store.siblings(a2)] == [a2, a2b]
    assert [m["id"] for m in store.siblings(q2)] == [q2, q2b]
    assert [m["id"] for m in store.siblings(q1)] == [q1]
    assert store.leaf(cid) == a2c
    assert store.leaf(cid, under=q2) == a2b
    assert [m["content"] for m in store.thread(cid)] == ["q1", "a1", "q2 edited", "a2 for the edit"]
    assert [m["content"] for m in store.thread(cid, a2)] == ["q1", "a1", "q2", "a2"]
    assert store.history_for_model(cid, a2b) == [
        {"role": "user", "content": "q1", "reasoning": ""},
        {"role": "assistant", "content": "a1", "reasoning": "r1"},
        {"role": "user", "content": "q2", "reasoning": ""},
        {"role": "assistant", "content": "a2 regenerated", "reasoning": ""}]
    assert len(store.messages(cid)) == 7
    assert store.message(a1)["content"] == "a1"  # nothing overwritten


def test_thread_rejects_messages_from_another_conversation(store):
    a, b = store.new_conversation(), store.new_conversation()
    qa = store.add_user(a, "in a")
    store.add_user(b, "in b")
    with pytest.raises(StoreError, match="not in conversation"):
        store.thread(b, qa)
    with pytest.raises(StoreError, match="not in conversation"):
        store.add_user(b, "follow-up", parent_id=qa)
    assert store.thread(store.new_conversation()) == []


def test_full_text_search_covers_content_and_reasoning_and_stays_in_sync(store):
    cid = store.new_conversation()
    q = store.add_user(cid, "Why is the sky blue?")
    a = store.add_message(cid, "assistant", "Because of scattering.", q, reasoning="Rayleigh effect")
    assert [h["message_id"] for h in store.search("sky")] == [q]
    hit, = store.search("rayleigh")
    assert hit["message_id"] == a and hit["conversation_id"] == cid and "[Rayleigh]" in hit["snippet"]
    assert hit["title"] == "Why is the sky blue?"
    # query syntax characters are searched literally, not parsed
    assert [h["message_id"] for h in store.search('sky" OR (blue')] == []
    assert [h["message_id"] for h in store.search("blue?")] == [q]
    store.update_message(a, reasoning="Mie effect")
    assert store.search("rayleigh") == [] and len(store.search("mie")) == 1
    store.delete(cid)
    assert store.search("scattering") == []
    with pytest.raises(StoreError, match="empty"):
        store.search("  ")


def test_search_falls_back_to_substrings_for_cjk_and_partial_words(store):
    cid = store.new_conversation()
    q = store.add_user(cid, "天空为什么是蓝色的？")
    a = store.add_message(cid, "assistant", "因为瑞利散射。", q, reasoning="100% sure, 50_50 odds")
    hit, = store.search("蓝色")  # one FTS5 token is the whole run of characters: only a substring scan finds it
    assert (hit["message_id"], hit["snippet"]) == (q, "天空为什么是[蓝色]的？")
    assert [h["message_id"] for h in store.search("瑞利")] == [a]
    assert store.search("%")[0]["snippet"] == "因为瑞利散射。 100[%] sure, 50_50 odds"  # LIKE wildcards are literal
    assert [h["message_id"] for h in store.search("0_5")] == [a]
    assert store.search("0x5") == [] and store.search("绿色") == []


def _bytes(path):
    return path.read_bytes()


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b"not a database at all\n" * 50), "not a SQLite database"),
    (lambda p: p.write_text("[model]\nname = 'x'\n"), "not a SQLite database"),
])
def test_non_sqlite_file_is_refused_untouched(tmp_path, make, message):
    path = tmp_path / "x.db"
    make(path)
    before = _bytes(path)
    with pytest.raises(StoreError, match=message):
        Store(path)
    assert _bytes(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.db"]


def test_foreign_sqlite_database_is_refused_untouched(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.execute("INSERT INTO invoices (total) VALUES (9.5)")
    conn.commit()
    conn.close()
    before = _bytes(path)
    with pytest.raises(StoreError, match="another program's SQLite database.*invoices"):
        Store(path)
    assert _bytes(path) == before


def test_foreign_database_with_our_table_names_is_refused(tmp_path):
    path = tmp_path / "lookalike.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE messages (id INTEGER PRIMARY KEY, body TEXT)")
    conn.commit()
    conn.close()
    before = _bytes(path)
    with pytest.raises(StoreError, match="another program's"):
        Store(path)
    assert _bytes(path) == before


def test_corrupt_history_is_refused_untouched(tmp_path):
    path = tmp_path / "h.db"
    with Store(path) as s:
        cid = s.new_conversation()
        for i in range(200):
            s.add_user(cid, f"question {i} " + "padding " * 50)
        s.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    data[4096 * 3: 4096 * 5] = b"\xff" * 8192  # smash b-tree pages in the middle of the file
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="corrupt"):
        Store(path)
    assert path.read_bytes() == bytes(data)


def test_newer_schema_and_directory_are_refused(tmp_path):
    path = tmp_path / "h.db"
    with Store(path) as s:
        s.db.execute(f"PRAGMA user_version = {LATEST + 1}")
    with pytest.raises(StoreError, match="newer sikao"):
        Store(path)
    with pytest.raises(StoreError, match="is a directory"):
        Store(tmp_path)


def test_empty_file_becomes_a_history(tmp_path):
    path = tmp_path / "empty.db"
    path.touch()
    with Store(path) as s:
        assert s.conversations() == []
