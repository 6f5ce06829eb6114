"""The history schema, as numbered migrations tracked in `PRAGMA user_version`.

Migration N brings a database from version N-1 to N. Never edit a released one: add the next.
Each runs inside the caller's `BEGIN IMMEDIATE`, so two processes opening a fresh file at once
apply it exactly once.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

# Written into the header (PRAGMA application_id) so a sikao file can be told from other SQLite files.
APP_ID = 0x73696B61  # "sika"


def _v1(db: sqlite_utils.Database) -> None:
    db.execute("""
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL DEFAULT '',
            created TEXT NOT NULL,
            updated TEXT NOT NULL,
            model TEXT NOT NULL DEFAULT '',
            settings TEXT NOT NULL DEFAULT '{}'
        )""")
    db.execute("""
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            -- an edit or a regenerate adds a sibling (same parent) instead of overwriting
            parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
            content TEXT NOT NULL DEFAULT '',
            reasoning TEXT NOT NULL DEFAULT '',
            model TEXT NOT NULL DEFAULT '',
            params TEXT NOT NULL DEFAULT '{}',
            tokens_in INTEGER,
            tokens_out INTEGER,
            duration REAL,
            tok_per_s REAL,
            finish_reason TEXT,
            complete INTEGER NOT NULL DEFAULT 1,
            notices TEXT NOT NULL DEFAULT '[]',
            created TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX messages_conversation ON messages(conversation_id, id)")
    db.execute("CREATE INDEX messages_parent ON messages(parent_id)")
    db.execute("""
        CREATE TABLE search_calls (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            branch INTEGER NOT NULL DEFAULT 0,
            query TEXT NOT NULL,
            backend TEXT NOT NULL DEFAULT '',
            results TEXT,
            message TEXT NOT NULL DEFAULT '',
            notes TEXT,
            created TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX search_calls_message ON search_calls(message_id)")
    db.execute("""
        CREATE TABLE graphs (
            message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
            answer TEXT NOT NULL DEFAULT '',
            weights TEXT NOT NULL DEFAULT '{}',
            graph TEXT NOT NULL DEFAULT '{}',
            branches TEXT NOT NULL DEFAULT '{}'
        )""")
    db["messages"].enable_fts(["content", "reasoning"], create_triggers=True)


MIGRATIONS = [_v1]
LATEST = len(MIGRATIONS)
# Every table a sikao file may hold (FTS5 shadow tables included); anything else means a foreign file.
TABLES = {"conversations", "messages", "search_calls", "graphs"} | {
    "messages_fts" + s for s in ("", "_data", "_idx", "_docsize", "_config")}


def migrate(db: sqlite_utils.Database) -> int:
    """Apply the pending migrations; the caller holds the write lock. Returns the new version."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    for number in range(version + 1, LATEST + 1):
        MIGRATIONS[number - 1](db)
        db.execute(f"PRAGMA user_version = {number}")
    if version == 0:
        db.execute(f"PRAGMA application_id = {APP_ID}")
    return LATEST


def inspect(path: Path) -> str | None:
    """Why `path` cannot be used as a sikao history, or None if it can. Only reads (read-only
    connection), so a foreign or corrupt file is left byte-for-byte untouched. A missing or empty
    file is fine: it becomes a new history."""
    if path.is_dir():
        return f"{path} is a directory, not a history database"
    if not path.exists() or path.stat().st_size == 0:
        return None
    try:
        with open(path, "rb") as f:
            header = f.read(16)
    except OSError as e:
        return f"cannot read {path}: {e.strerror}"
    if header != b"SQLite format 3\x00":
        return f"{path} is not a SQLite database; refusing to use it as sikao history"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                      if not name.startswith("sqlite_")}
            health = conn.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        return f"{path} is corrupt or unreadable ({e}); it was left untouched"
    if health != "ok":
        return f"{path} is corrupt ({health}); it was left untouched"
    foreign = sorted(tables - TABLES)
    if foreign or app_id not in (0, APP_ID) or (tables and app_id != APP_ID):
        what = f" (it has tables {', '.join(foreign[:3])})" if foreign else ""
        return f"{path} is another program's SQLite database{what}; refusing to use it as sikao history"
    if version > LATEST:
        return f"{path} was written by a newer sikao (schema {version}, this one knows {LATEST})"
    return None
