"""Eval results on disk: a SQLite run registry (one row per run) and one JSONL file of samples per
run, both under <data dir>/evals/."""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import sqlite_utils

from app.errors import UserError
from app.paths import data_dir
from evals.data import REPO


@dataclass
class Run:
    id: int
    dataset: str
    model: str
    params: dict
    version: str
    started: str
    finished: str | None
    metrics: dict


def root() -> Path:
    return data_dir() / "evals"


def code_version() -> str:
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=REPO,
                             capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return metadata.version("sikao")
    except metadata.PackageNotFoundError:
        return "unknown"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Registry:
    def __init__(self, base: Path | None = None):
        self.base = base or root()
        self.base.mkdir(parents=True, exist_ok=True)
        self.db = sqlite_utils.Database(self.base / "runs.db")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db["runs"].create({"id": int, "dataset": str, "model": str, "params": str,
                                "version": str, "started": str, "finished": str, "metrics": str},
                               pk="id", not_null={"dataset", "model", "params"}, if_not_exists=True)

    def create(self, dataset: str, model: str, params: dict) -> Run:
        row = {"dataset": dataset, "model": model, "params": json.dumps(params, sort_keys=True),
               "version": code_version(), "started": _now(), "finished": None, "metrics": "{}"}
        return self.get(self.db["runs"].insert(row).last_pk)

    def unfinished(self, dataset: str, model: str, params: dict) -> Run | None:
        """The latest interrupted run with exactly these settings, to resume."""
        rows = self.db.query(
            "select * from runs where dataset = ? and model = ? and params = ? and finished is null"
            " order by id desc limit 1", [dataset, model, json.dumps(params, sort_keys=True)])
        return next((_run(r) for r in rows), None)

    def save_metrics(self, run_id: int, metrics: dict) -> None:
        self.db["runs"].update(run_id, {"metrics": json.dumps(metrics)})

    def finish(self, run_id: int, metrics: dict) -> None:
        self.db["runs"].update(run_id, {"finished": _now(), "metrics": json.dumps(metrics)})

    def get(self, run_id: int) -> Run:
        rows = list(self.db.query("select * from runs where id = ?", [run_id]))
        if not rows:
            raise UserError(f"no eval run {run_id} (see `sikao eval report`)")
        return _run(rows[0])

    def runs(self, ids: list[int] | None = None) -> list[Run]:
        if ids:
            return [self.get(i) for i in ids]
        return [_run(r) for r in self.db.query("select * from runs order by id")]

    def samples_path(self, run_id: int) -> Path:
        return self.base / "runs" / f"{run_id}.jsonl"

    def samples(self, run_id: int) -> list[dict]:
        path = self.samples_path(run_id)
        if not path.exists():
            return []
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by an interrupt: that sample is simply redone
        return out

    def append(self, run_id: int, records: list[dict]) -> None:
        path = self.samples_path(run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as f:
            if f.tell() and not _ends_with_newline(path):
                f.write("\n")  # close a line an interrupt cut short
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as f:
        f.seek(-1, 2)
        return f.read(1) == b"\n"


def _run(row: dict) -> Run:
    return Run(row["id"], row["dataset"], row["model"], json.loads(row["params"]), row["version"],
               row["started"], row["finished"], json.loads(row["metrics"] or "{}"))
