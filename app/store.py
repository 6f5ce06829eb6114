"""The conversation history: one SQLite file (WAL, FTS5), read and written through sqlite-utils.

Messages form a tree per conversation: `parent_id` links each turn to the one it answers or
follows, so an edit or a regenerate adds a sibling instead of overwriting. A thread is the path
from the root to a leaf. Every write is its own short `BEGIN IMMEDIATE` transaction, so two
processes can write at once (the busy timeout queues them) and a killed process loses at most
the write it was in the middle of.
"""
from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import sqlite_utils

from app.errors import UserError
from app.migrations import LATEST, inspect, migrate
from app.paths import data_dir
from app.recorder import Recorder

BUSY_TIMEOUT = 30.0  # seconds a writer waits for another process's transaction
JSON_FIELDS = ("settings", "params", "notices", "results", "weights", "graph", "branches")


class StoreError(UserError):
    """The history file cannot be used (corrupt, foreign, newer schema) or a lookup failed."""


def default_path() -> Path:
    return data_dir() / "history.db"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def title_from(text: str, limit: int = 60) -> str:
    """A short title from the first question: its first line, cut on a word boundary."""
    line = next((s for s in text.strip().splitlines() if s.strip()), "")
    line = re.sub(r"\s+", " ", line).strip()
    if len(line) <= limit:
        return line
    cut = line[:limit].rsplit(" ", 1)[0] if " " in line[:limit] else line[:limit]
    return cut.rstrip(" ,;:.-") + "…"


def _snippet(text: str, query: str, width: int = 40) -> str:
    i = text.lower().find(query.lower())
    start, end = max(0, i - width), i + len(query) + width
    return (("…" if start else "") + text[start:i] + f"[{text[i:i + len(query)]}]"
            + text[i + len(query):end] + ("…" if end < len(text) else ""))


def _decode(row: dict | None) -> dict | None:
    if row is None:
        return None
    for key in JSON_FIELDS:
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    if "complete" in row:
        row["complete"] = bool(row["complete"])
    return row


def _encode(fields: dict) -> dict:
    return {k: json.dumps(v, ensure_ascii=False) if k in JSON_FIELDS and v is not None else v
            for k, v in fields.items()}


def _wal(db: sqlite_utils.Database) -> None:
    """Switch to WAL, retrying: two processes creating the same history at once can get "database
    is locked" from this pragma at once, without SQLite's busy timeout being applied to it."""
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Store:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path).expanduser() if path else default_path()
        problem = inspect(self.path)
        if problem:
            raise StoreError(problem)
        self.lock = threading.RLock()  # one connection may be shared by a UI thread and a worker
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, check_same_thread=False)
            self.db = sqlite_utils.Database(conn, execute_plugins=False)
            _wal(self.db)
            self.db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable across process crashes
            self.db.execute("PRAGMA foreign_keys = ON")
            if self.db.execute("PRAGMA user_version").fetchone()[0] < LATEST:
                with self.tx():
                    migrate(self.db)
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot open history database {self.path}: {e}") from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextmanager
    def tx(self):
        """A write transaction that takes the write lock up front, so the busy timeout applies."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
                self.db.execute("COMMIT")
            except BaseException:
                self.db.rollback()
                raise

    # conversations

    def new_conversation(self, title: str = "", model: str = "", settings: dict | None = None) -> int:
        stamp = now()
        with self.tx():
            return self.db["conversations"].insert(_encode(dict(
                title=title, created=stamp, updated=stamp, model=model, settings=settings or {}))).last_pk

    def conversation(self, cid: int) -> dict:
        rows = list(self.db.query("SELECT * FROM conversations WHERE id = ?", [cid]))
        if not rows:
            raise StoreError(f"no conversation {cid}")
        return _decode(rows[0])

    def conversations(self, limit: int | None = None) -> list[dict]:
        """Newest first (by last activity), each with its message count."""
        sql = ("SELECT c.*, count(m.id) AS messages FROM conversations c"
               " LEFT JOIN messages m ON m.conversation_id = c.id"
               " GROUP BY c.id ORDER BY c.updated DESC, c.id DESC")
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [_decode(r) for r in self.db.query(sql)]

    def last_conversation(self) -> int | None:
        row = self.db.execute("SELECT id FROM conversations ORDER BY updated DESC, id DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def rename(self, cid: int, title: str) -> None:
        self.conversation(cid)
        with self.tx():
            self.db["conversations"].update(cid, {"title": title})

    def delete(self, cid: int) -> None:
        self.conversation(cid)
        with self.tx():  # messages, search calls and graphs go with it (ON DELETE CASCADE)
            self.db.execute("DELETE FROM conversations WHERE id = ?", [cid])

    def search(self, query: str, limit: int = 50) -> list[dict]:
        """Full-text search over message content and reasoning, best match first. When the words
        match nothing, a plain substring scan follows: FTS5's tokenizer keeps a run of Chinese or
        Japanese characters as one token, so "蓝色" could never match inside "天空为什么是蓝色"."""
        query = query.strip()
        if not query:
            raise StoreError("empty search query")
        hits = list(self.db.query("""
            SELECT m.id AS message_id, m.conversation_id, c.title, m.role, m.created,
                   snippet(messages_fts, -1, '[', ']', '…', 12) AS snippet
            FROM messages_fts
            JOIN messages m ON m.id = messages_fts.rowid
            JOIN conversations c ON c.id = m.conversation_id
            WHERE messages_fts MATCH ? ORDER BY rank LIMIT ?""", [self.db.quote_fts(query), limit]))
        if hits:
            return hits
        pattern = "%" + re.sub(r"([\\%_])", r"\\\1", query) + "%"
        rows = self.db.query("""
            SELECT m.id AS message_id, m.conversation_id, c.title, m.role, m.created, m.content, m.reasoning
            FROM messages m JOIN conversations c ON c.id = m.conversation_id
            WHERE m.content LIKE :p ESCAPE '\\' OR m.reasoning LIKE :p ESCAPE '\\'
            ORDER BY m.id DESC LIMIT :n""", {"p": pattern, "n": limit})
        return [dict(r, snippet=_snippet(" ".join(filter(None, (r.pop("content"), r.pop("reasoning")))), query)) for r in rows]

    # messages

    def add_message(self, cid: int, role: str, content: str = "", parent_id: int | None = None,
                    **fields) -> int:
        """Append a message under `parent_id` (None: a root). A user message gives an untitled
        conversation its title."""
        stamp = now()
        with self.tx():
            conv = self.conversation(cid)
            if parent_id is not None:
                owner = self.db.execute("SELECT conversation_id FROM messages WHERE id = ?", [parent_id]).fetchone()
                if not owner or owner[0] != cid:
                    raise StoreError(f"message {parent_id} is not in conversation {cid}")
            mid = self.db["messages"].insert(_encode(dict(
                conversation_id=cid, parent_id=parent_id, role=role, content=content,
                created=stamp, **fields))).last_pk
            update = {"updated": stamp}
            if role == "user" and not conv["title"]:
                update["title"] = title_from(content)
            self.db["conversations"].update(cid, update)
        return mid

    def add_user(self, cid: int, content: str, parent_id: int | None = None) -> int:
        return self.add_message(cid, "user", content, parent_id)

    def update_message(self, mid: int, **fields) -> None:
        with self.tx():
            self.db["messages"].update(mid, _encode(fields))

    def message(self, mid: int) -> dict:
        rows = list(self.db.query("SELECT * FROM messages WHERE id = ?", [mid]))
        if not rows:
            raise StoreError(f"no message {mid}")
        return _decode(rows[0])

    def leaf(self, cid: int, under: int | None = None) -> int | None:
        """The newest message of the conversation, or of the subtree under `under`. Children are
        always newer than their parents, so the newest message is a leaf."""
        if under is None:
            row = self.db.execute("SELECT max(id) FROM messages WHERE conversation_id = ?", [cid]).fetchone()
        else:
            row = self.db.execute("""
                WITH RECURSIVE sub(id) AS (
                    SELECT id FROM messages WHERE id = ? AND conversation_id = ?
                    UNION ALL SELECT m.id FROM messages m JOIN sub ON m.parent_id = sub.id)
                SELECT max(id) FROM sub""", [under, cid]).fetchone()
        return row[0]

    def thread(self, cid: int, leaf: int | None = None) -> list[dict]:
        """The messages from the root to `leaf` (default: the newest leaf), oldest first."""
        self.conversation(cid)
        leaf = self.leaf(cid) if leaf is None else leaf
        if leaf is None:
            return []
        if self.message(leaf)["conversation_id"] != cid:
            raise StoreError(f"message {leaf} is not in conversation {cid}")
        rows = self.db.query("""
            WITH RECURSIVE path(id) AS (
                SELECT ? UNION ALL SELECT m.parent_id FROM messages m JOIN path ON m.id = path.id
                WHERE m.parent_id IS NOT NULL)
            SELECT messages.* FROM messages JOIN path USING (id) ORDER BY messages.id""", [leaf])
        return [_decode(r) for r in rows]

    def messages(self, cid: int) -> list[dict]:
        """Every message of the conversation, every branch, oldest first."""
        self.conversation(cid)
        return [_decode(r) for r in self.db.query(
            "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", [cid])]

    def siblings(self, mid: int) -> list[dict]:
        """The versions of a message (itself included): same conversation and parent, oldest first."""
        msg = self.message(mid)
        rows = self.db.query(
            "SELECT * FROM messages WHERE conversation_id = ? AND parent_id IS ? ORDER BY id",
            [msg["conversation_id"], msg["parent_id"]])
        return [_decode(r) for r in rows]

    def history_for_model(self, cid: int, leaf: int | None = None) -> list[dict]:
        """The thread as chat turns for the prompt; the prompt builder decides what reasoning to send."""
        return [{"role": m["role"], "content": m["content"], "reasoning": m["reasoning"]}
                for m in self.thread(cid, leaf)]

    def search_calls(self, mid: int) -> list[dict]:
        return [_decode(r) for r in self.db.query(
            "SELECT * FROM search_calls WHERE message_id = ? ORDER BY id", [mid])]

    def graph(self, mid: int) -> dict | None:
        return _decode(next(iter(self.db.query("SELECT * FROM graphs WHERE message_id = ?", [mid])), None))

    def add_search(self, mid: int, query: str, branch: int = 0) -> int:
        with self.tx():
            return self.db["search_calls"].insert(dict(
                message_id=mid, branch=branch, query=query, created=now())).last_pk

    def update_search(self, sid: int, **fields) -> None:
        with self.tx():
            self.db["search_calls"].update(sid, _encode(fields))

    def save_graph(self, mid: int, **fields) -> None:
        with self.tx():
            self.db["graphs"].upsert(_encode(dict(message_id=mid, **fields)), pk="message_id")

    def recorder(self, cid: int, parent_id: int | None, model: str = "", params: dict | None = None,
                 interval: float = 0.5) -> Recorder:
        """Start recording an assistant answer under `parent_id`; see app/recorder.py."""
        return Recorder(self, cid, parent_id, model=model, params=params, interval=interval)
