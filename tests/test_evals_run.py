"""`sikao eval run` with the real bundled model: end to end, resumable, stored, reported."""
import os
import re
import subprocess
import sys
import time

import httpx
import pytest

from evals.data import REPO
from evals.run import RunConfig, execute, plan, problems
from evals.store import Registry

pytestmark = pytest.mark.slow


def sikao(*args):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=REPO, capture_output=True,
                          text=True, env=env, timeout=900)


@pytest.mark.parametrize("dataset", ["gsm8k", "humaneval"])
def test_short_real_run_end_to_end(dataset):
    r = sikao("eval", "run", dataset, "--limit", "3", "--max-tokens", "24", "--batch", "3")
    assert r.returncode == 0, r.stderr
    assert f"run 1 ({dataset}, SmolLM2-135M" in r.stdout and "problems=3" in r.stdout
    assert "3/3" in r.stderr  # the progress bar got to the end
    run = Registry().get(1)
    assert run.finished and run.params["max_tokens"] == 24 and run.params["temperature"] == 0.6
    assert run.metrics["problems"] == 3 and 0 <= run.metrics["accuracy"] <= 1
    assert run.metrics["tokens_per_problem"] > 0 and run.metrics["tok_per_s"] > 0
    records = Registry().samples(1)
    # Stored as each problem ends, so in any order, each once.
    assert sorted(r["id"] for r in records) == sorted(p.id for p in problems(RunConfig(dataset, 3)))
    for rec in records:
        assert rec["output"] and 0 < rec["tokens"] <= 24 and rec["finish_reason"] in ("stop", "length")
        assert isinstance(rec["correct"], bool)
        if dataset == "humaneval":
            assert rec["status"] in ("passed", "failed", "timeout", "empty")
    report = sikao("eval", "report")
    assert report.returncode == 0 and report.stdout.splitlines()[1].split()[:2] == ["1", dataset]


def test_interrupted_run_resumes_where_it_stopped(llm):
    cfg = RunConfig("arith", limit=3, n=2, max_tokens=8, batch=4)
    chosen = problems(cfg)
    reg = Registry()
    first = plan(cfg, chosen, llm.name, reg)
    # As if the run had been stopped after its first problem (and mid-write of the second).
    kept = {"id": 0, "sample": 0, "output": "x", "extracted": None, "correct": False, "tokens": 1}
    reg.append(first.run.id, [kept, {**kept, "sample": 1}])
    with reg.samples_path(first.run.id).open("a") as f:
        f.write('{"id": 1, "samp')
    again = plan(cfg, chosen, llm.name, reg)
    assert again.run.id == first.run.id and [p.id for _, p in again.todo] == [1, 2]
    metrics = execute(llm, cfg, again, reg)
    records = reg.samples(first.run.id)
    assert [(r["id"], r["sample"]) for r in records] == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    assert records[0]["output"] == "x" and metrics["problems"] == 3 and metrics["samples"] == 6
    assert "maj@2" in metrics and "pass@2" in metrics
    assert plan(cfg, chosen, llm.name, reg).run.id != first.run.id  # finished: a new run next time


def test_seeded_samples_are_reproducible(llm):
    cfg = RunConfig("arith", limit=1, n=2, max_tokens=6, seed=7)
    reg = Registry()
    outs = []
    for _ in range(2):
        work = plan(cfg, problems(cfg), llm.name, reg)
        execute(llm, cfg, work, reg)
        outs.append([r["output"] for r in reg.samples(work.run.id)])
    assert outs[0] == outs[1] and len(outs[0]) == 2


def test_branch_run():
    r = sikao("eval", "run", "arith", "--limit", "2", "--branches", "3", "--max-tokens", "12")
    assert r.returncode == 0, r.stderr
    run = Registry().get(1)
    assert run.params["branches"] == 3 and 0 <= run.metrics["voted"] <= 1
    assert "weighted@3" in run.metrics and run.metrics["tokens_per_problem"] > 0
    records = Registry().samples(1)
    assert sorted(r["id"] for r in records) == [0, 0, 0, 1, 1, 1]
    for rec in records:
        assert isinstance(rec["confidence"], float) and isinstance(rec["vote_correct"], bool)
        assert rec["pruned"] == (rec["tokens"] is None)


def test_run_against_a_remote_server():
    server = subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", "0", "--api-key", "k"],
                              cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        found = re.search(r"http://\S+/v1", server.stderr.readline())
        assert found
        _wait_healthy(found.group(0).replace("/v1", "/health"))
        env = {**os.environ, "SIKAO_API_KEY": "k"}
        r = subprocess.run([sys.executable, "-m", "app", "eval", "run", "arith", "--limit", "2",
                            "--n", "2", "--max-tokens", "8", "--engine", found.group(0)],
                           cwd=REPO, capture_output=True, text=True, env=env, timeout=600)
        assert r.returncode == 0, r.stderr
        assert "problems=2  samples=4" in r.stdout
        records = Registry().samples(1)
        assert len(records) == 4 and all(0 < rec["tokens"] <= 8 for rec in records)
    finally:
        server.terminate()
        server.wait(10)


def _wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never became healthy")
