"""The local corpus: an offline SQLite FTS5 index over folders of .md, .txt, .html and .rst
files, ranked by bm25 with a snippet around the match. Re-indexing skips files whose mtime and
size, or failing that content hash, are unchanged, and forgets files deleted from an indexed folder."""
from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from app.paths import data_dir
from tools.errors import SearchError, ToolError
from tools.extract import file_text
from tools.result import SearchResult

SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".rst")
SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, title TEXT, size INTEGER, mtime REAL,
    sha TEXT, indexed REAL);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
    title, body, tokenize = 'porter unicode61 remove_diacritics 2');
"""
TITLE_WEIGHT = 2.0  # a query word in the title counts twice a body hit in bm25


@dataclass
class IndexStats:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[str] = field(default_factory=list)  # "path: reason" for unreadable files


@dataclass
class Doc:
    path: str
    title: str
    size: int
    indexed: float


class Corpus:
    name = "local"

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path else data_dir() / "corpus.db"

    @contextmanager
    def _db(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=10)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            yield db
        finally:
            db.close()

    def add(self, paths: list[Path | str], progress: bool = False) -> IndexStats:
        stats = IndexStats()
        roots = [Path(p).expanduser().resolve() for p in paths]
        files = _files(roots)
        with self._db() as db:
            known = {row[0]: row[1:] for row in db.execute("SELECT path, id, size, mtime, sha FROM docs")}
            seen = {str(f) for f in files}
            for f in tqdm(files, desc="indexing", unit="file", disable=None if progress else True):
                try:
                    self._add_one(db, f, known.get(str(f)), stats)
                except OSError as e:
                    stats.failed.append(f"{f}: {e.strerror or e}")
            for root in roots:  # files gone from an indexed folder leave the index too
                if root.is_dir():
                    gone = [p for p in known if _under(p, root) and p not in seen]
                    stats.removed += _delete(db, [known[p][0] for p in gone])
            db.commit()
        return stats

    def _add_one(self, db: sqlite3.Connection, f: Path, row: tuple | None, stats: IndexStats) -> None:
        st = f.stat()
        if row and row[1] == st.st_size and row[2] == st.st_mtime:
            stats.unchanged += 1
            return
        data = f.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        if row and row[3] == sha:  # touched, not changed
            db.execute("UPDATE docs SET mtime = ? WHERE id = ?", (st.st_mtime, row[0]))
            stats.unchanged += 1
        else:
            title, body = file_text(f, data)
            if row:
                _delete(db, [row[0]])
            cur = db.execute(
                "INSERT INTO docs (path, title, size, mtime, sha, indexed) VALUES (?, ?, ?, ?, ?, ?)",
                (str(f), title, st.st_size, st.st_mtime, sha, time.time()),
            )
            db.execute("INSERT INTO fts (rowid, title, body) VALUES (?, ?, ?)", (cur.lastrowid, title, body))
            if row:
                stats.updated += 1
            else:
                stats.added += 1
        db.commit()  # per file, so an interrupted run keeps what it did

    def documents(self) -> list[Doc]:
        if not self.path.exists():
            return []
        with self._db() as db:
            rows = db.execute("SELECT path, title, size, indexed FROM docs ORDER BY path").fetchall()
        return [Doc(*r) for r in rows]

    def text(self, path: str) -> tuple[str, str] | None:
        """(title, indexed text) of one document, as it was when indexed."""
        if not self.path.exists():
            return None
        with self._db() as db:
            return db.execute(
                "SELECT docs.title, fts.body FROM docs JOIN fts ON fts.rowid = docs.id WHERE docs.path = ?",
                (path,),
            ).fetchone()

    def count(self) -> int:
        if not self.path.exists():
            return 0
        with self._db() as db:
            return db.execute("SELECT count(*) FROM docs").fetchone()[0]

    def remove(self, path: Path | str) -> int:
        """Forget a file, or every file under a folder; returns how many documents went."""
        target = Path(path).expanduser().resolve()
        if not self.path.exists():
            return 0
        with self._db() as db:
            ids = [i for i, p in db.execute("SELECT id, path FROM docs") if _under(p, target)]
            n = _delete(db, ids)
            db.commit()
        return n

    def search(self, query: str, k: int = 5) -> list[SearchResult]:
        if not self.count():
            raise SearchError(
                f"the local corpus is empty: add documents with `sikao index PATH` ({self.path})")
        words = re.findall(r"\w+", query)
        if not words:
            return []
        # Each word quoted (FTS5 syntax stays inert) and OR-ed: bm25 ranks the documents that
        # hold more of them, and rarer ones, first.
        match = " OR ".join('"' + w + '"' for w in words)
        with self._db() as db:
            rows = db.execute(
                f"""SELECT docs.path, docs.title, snippet(fts, 1, '', '', '…', 40) FROM fts
                JOIN docs ON docs.id = fts.rowid WHERE fts MATCH ?
                ORDER BY bm25(fts, {TITLE_WEIGHT}, 1.0) LIMIT ?""",
                (match, k),
            ).fetchall()
        return [
            SearchResult(title=t, url=p, snippet=" ".join(s.split()), backend=self.name, rank=i)
            for i, (p, t, s) in enumerate(rows, 1)
        ]


def _files(roots: list[Path]) -> list[Path]:
    out: set[Path] = set()
    for root in roots:
        if root.is_file():
            out.add(root)
        elif root.is_dir():
            out.update(
                p for p in root.rglob("*")
                if p.suffix.lower() in SUFFIXES and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(root).parts)
            )
        else:
            raise ToolError(f"no such file or folder: {root}")
    return sorted(out)


def _under(path: str, root: Path) -> bool:
    p = Path(path)
    return p == root or root in p.parents


def _delete(db: sqlite3.Connection, ids: list[int]) -> int:
    for i in ids:
        db.execute("DELETE FROM fts WHERE rowid = ?", (i,))
        db.execute("DELETE FROM docs WHERE id = ?", (i,))
    return len(ids)
