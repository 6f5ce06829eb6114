"""Run untrusted programs: one process per program in a fresh temp dir, wall and CPU timeouts,
memory / file-size / process limits, no network where the OS allows it, output captured. Whatever
the program does, the caller gets an Outcome back, never an exception."""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

CHILD = Path(__file__).with_name("sandbox_child.py")


@dataclass
class Limits:
    timeout: float = 10.0  # wall seconds
    memory: int = 1 << 30  # bytes of address space
    fsize: int = 16 << 20  # largest file it may write
    output: int = 4000  # characters of captured output kept


@dataclass
class Outcome:
    passed: bool
    status: str  # passed | failed | timeout
    output: str = ""


def run(program: str, limits: Limits | None = None) -> Outcome:
    limits = limits or Limits()
    nonce = secrets.token_hex(16)
    job = json.dumps({"program": program, "nonce": nonce, "memory": limits.memory,
                      "cpu": int(limits.timeout) + 1, "fsize": limits.fsize})
    with tempfile.TemporaryDirectory(prefix="sikao-sandbox-") as cwd:
        # -I: no user site, no PYTHONPATH, no cwd on sys.path; -B: no .pyc writes.
        proc = subprocess.Popen(
            [sys.executable, "-I", "-B", str(CHILD)], cwd=cwd, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        )
        try:
            out, _ = proc.communicate(job.encode(), timeout=limits.timeout)
            status = "passed" if proc.returncode == 0 and nonce.encode() in out else "failed"
        except subprocess.TimeoutExpired:
            _kill(proc)
            out, _ = proc.communicate()
            status = "timeout"
    text = out.decode("utf-8", "replace").replace(nonce, "").strip()
    if proc.returncode and proc.returncode < 0:
        text += f"\n[killed by {signal.Signals(-proc.returncode).name}]"
    return Outcome(status == "passed", status, text[-limits.output:])


def run_many(programs: list[str], limits: Limits | None = None, workers: int | None = None,
             progress=None) -> list[Outcome]:
    """Run programs concurrently, at most `workers` at a time; results in input order."""
    workers = workers or max(2, 2 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(run, p, limits) for p in programs]
        results = []
        for f in futures:
            results.append(f.result())
            if progress:
                progress()
        return results


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
