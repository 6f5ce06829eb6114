"""`sikao eval score` and `sikao eval report` end to end, as a user runs them."""
import json
import subprocess
import sys

import pytest

from evals.data import REPO
from evals.store import Registry


def sikao(*args, env_dir=None):
    env = {"PATH": "/usr/bin:/bin", "SIKAO_DATA_DIR": str(env_dir or REPO / "no-such-dir")}
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=REPO, capture_output=True,
                          text=True, env=env, timeout=120)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_score_round_trip(tmp_path):
    rows = [
        {"dataset": "math500", "id": "test/precalculus/807.json",
         "output": r"Thus the point is $\boxed{\left(3, \frac{\pi}{2}\right)}$."},
        {"dataset": "gsm8k", "id": 0, "output": "She makes 9 * 2 = 18 dollars."},
        {"dataset": "gsm8k", "id": 0, "output": "She makes 20 dollars."},
        {"dataset": "aime24", "id": 60, "output": r"\boxed{204}", "extra": "kept"},
        {"dataset": "humaneval", "id": "HumanEval/2",
         "output": "```python\ndef truncate_number(number: float) -> float:\n    return number % 1.0\n```"},
    ]
    pred, out = write_jsonl(tmp_path / "pred.jsonl", rows), tmp_path / "sub" / "scored.jsonl"
    r = sikao("eval", "score", str(pred), "--out", str(out))
    assert r.returncode == 0, r.stderr
    scored = [json.loads(line) for line in out.read_text().splitlines()]
    assert [s["correct"] for s in scored] == [True, True, False, True, True]
    assert [s["extracted"] for s in scored[:4]] == [r"\left(3, \frac{\pi}{2}\right)", "18", "20", "204"]
    assert scored[3]["extra"] == "kept" and scored[0]["output"] == rows[0]["output"]
    assert "gsm8k: problems=1  samples=2  accuracy=0.500" in r.stdout
    assert r.stdout.count("\n") == 4
    r = sikao("eval", "score", str(pred), "--out", str(out), "--json")
    summary = json.loads(r.stdout)
    assert summary["gsm8k"]["pass@2"] == 1.0 and summary["humaneval"]["accuracy"] == 1.0


@pytest.mark.parametrize("bad, message", [
    ({"dataset": "nope", "id": 1, "output": ""}, "pred.jsonl:2: unknown dataset 'nope'"),
    ({"dataset": "gsm8k", "id": 5000, "output": ""}, "pred.jsonl:2: no problem with id 5000 in gsm8k"),
    ({"dataset": "gsm8k", "output": ""}, "pred.jsonl:2: expected a JSON object"),
])
def test_score_errors_name_the_line(tmp_path, bad, message):
    pred = write_jsonl(tmp_path / "pred.jsonl", [{"dataset": "gsm8k", "id": 1, "output": "3"}, bad])
    r = sikao("eval", "score", str(pred), "--out", str(tmp_path / "o.jsonl"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"sikao: error: {tmp_path}/{message}")


def test_registry_resume_and_truncated_lines(tmp_path):
    reg = Registry(tmp_path)
    params = {"n": 2, "temperature": 0.6}
    run = reg.create("gsm8k", "tiny", params)
    assert reg.unfinished("gsm8k", "tiny", params).id == run.id
    assert reg.unfinished("gsm8k", "tiny", {"n": 4}) is None
    reg.append(run.id, [{"id": 0, "sample": 0}, {"id": 0, "sample": 1}])
    with reg.samples_path(run.id).open("a") as f:
        f.write('{"id": 1, "sam')  # an interrupt mid-write
    reg.append(run.id, [{"id": 1, "sample": 0}])
    assert [(s["id"], s["sample"]) for s in reg.samples(run.id)] == [(0, 0), (0, 1), (1, 0)]
    reg.finish(run.id, {"accuracy": 0.5})
    assert reg.unfinished("gsm8k", "tiny", params) is None
    done = reg.get(run.id)
    assert done.finished and done.metrics == {"accuracy": 0.5} and done.version


def test_report_table_and_plots(tmp_path):
    reg = Registry(tmp_path / "evals")
    sc = reg.create("gsm8k", "tiny", {"n": 4})
    reg.finish(sc.id, {"problems": 3, "accuracy": 0.4, "maj@4": 0.5, "tokens_per_problem": 800.0})
    br = reg.create("gsm8k", "tiny", {"branches": 4})
    reg.finish(br.id, {"problems": 3, "accuracy": 0.45, "weighted@4": 0.55, "voted": 0.6,
                       "tokens_per_problem": 500.0, "tok_per_s": 42.0})
    reg.create("math500", "tiny", {"n": 1})  # still running: listed, not plotted
    r = sikao("eval", "report", env_dir=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["run", "dataset", "model", "K"]
    assert lines[1].split()[:7] == ["1", "gsm8k", "tiny", "4", "3", "0.400", "0.500"]
    assert lines[2].split()[:7] == ["2", "gsm8k", "tiny", "4", "3", "0.450", "0.600"]
    assert lines[3].split()[-1] == "unfinished"
    pngs = sorted((tmp_path / "evals" / "plots").glob("*.png"))
    assert [p.name for p in pngs] == ["accuracy_vs_tokens.png", "branches_vs_self_consistency.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    one = sikao("eval", "report", "2", "--plots", str(tmp_path / "p"), env_dir=tmp_path)
    assert len(one.stdout.splitlines()) == 3  # header, run 2, the one plot it supports
    missing = sikao("eval", "report", "9", env_dir=tmp_path)
    assert missing.returncode == 2 and "no eval run 9" in missing.stderr
