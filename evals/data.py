"""The benchmark datasets: where their files are found and how their rows become Problems."""
from __future__ import annotations

import gzip
import json
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from app.errors import UserError

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Problem:
    id: int | str  # the dataset's own id, else the 0-based line index
    question: str  # what the model is asked (the problem, or the function's prompt)
    answer: str  # math: the gold answer; code: the canonical solution
    kind: str  # "math" | "code"
    reference: str = ""  # the dataset's own worked solution, as a model output would give it
    tests: dict = field(default_factory=dict)  # code: what evals/code.py needs to run the tests


@dataclass(frozen=True)
class Spec:
    file: str  # file name in a datasets dir
    hub: tuple[str, str | None, str]  # (path, config, split) for the `datasets` package
    convert: Callable[[list[dict]], list[Problem]]


def _gsm8k(rows):
    out = []
    for i, r in enumerate(rows):
        gold = r["answer"].rsplit("####", 1)[-1].strip().replace(",", "")
        out.append(Problem(i, r["question"], gold, "math", reference=r["answer"]))
    return out


def _math500(rows):
    return [Problem(r["unique_id"], r["problem"], r["answer"], "math", reference=r["solution"])
            for r in rows]


def _number(value) -> str:
    """AMC answers come as floats (27.0); AIME ones as zero-padded strings ('073')."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _competition(rows):
    return [Problem(r["id"], r["problem"], _number(r["answer"]), "math",
                    reference=f"\\boxed{{{_number(r['answer'])}}}") for r in rows]


def _humaneval(rows):
    return [Problem(r["task_id"], r["prompt"], r["canonical_solution"], "code",
                    reference=r["canonical_solution"],
                    tests={"prompt": r["prompt"], "test": r["test"],
                           "entry_point": r["entry_point"]}) for r in rows]


def _mbpp(rows):
    out = []
    for r in sorted(rows, key=lambda r: r["task_id"]):
        tests = "\n".join(r["test_list"])
        names = re.findall(r"^def\s+(\w+)\s*\(", r["code"], re.M)
        # The function the tests call; the reference may define helpers too.
        called = [n for n in names if re.search(rf"\b{n}\s*\(", tests)]
        entry = (called or names or [None])[0]
        out.append(Problem(r["task_id"], r["prompt"], r["code"], "code", reference=r["code"],
                           tests={"test_list": r["test_list"], "test": r.get("test") or "",
                                  "test_imports": r.get("test_imports") or [],
                                  "entry_point": entry}))
    return out


DATASETS: dict[str, Spec] = {
    "gsm8k": Spec("gsm8k_test.jsonl", ("openai/gsm8k", "main", "test"), _gsm8k),
    "math500": Spec("math500_test.jsonl", ("HuggingFaceH4/MATH-500", None, "test"), _math500),
    "aime24": Spec("aime24_test.jsonl", ("math-ai/aime24", None, "test"), _competition),
    "amc23": Spec("amc23_test.jsonl", ("math-ai/amc23", None, "test"), _competition),
    "humaneval": Spec("humaneval.jsonl.gz", ("openai/openai_humaneval", None, "test"), _humaneval),
    "mbpp": Spec("mbpp_sanitized.json",
                 ("google-research-datasets/mbpp", "sanitized", "train+validation+test+prompt"),
                 _mbpp),
}
NAMES = sorted([*DATASETS, "arith"])


def arith(n: int = 500, seed: int = 0) -> list[Problem]:
    """Multi-digit arithmetic with exact answers, so even a tiny model shows a measurable signal."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        op = rng.choice("+-*")
        a, b = rng.randint(10, 9999), rng.randint(10, 999 if op == "*" else 9999)
        value = a + b if op == "+" else a - b if op == "-" else a * b
        out.append(Problem(i, f"What is {a} {op} {b}?", str(value), "math",
                           reference=f"\\boxed{{{value}}}"))
    return out


def load(name: str, data: str | os.PathLike | None = None) -> list[Problem]:
    if name == "arith":
        return arith()
    spec = DATASETS.get(name)
    if spec is None:
        raise UserError(f"unknown dataset {name!r} (known: {', '.join(NAMES)})")
    path = _find(name, spec, data)
    rows = _read(path) if path else _hub(name, spec)
    return spec.convert(rows)


def _dirs() -> list[Path]:
    env = os.environ.get("SIKAO_DATA_PATH")
    return [Path(env)] if env else [REPO.parent / "shared" / "datasets"]


def _find(name: str, spec: Spec, data) -> Path | None:
    if data is not None:
        path = Path(data)
        path = path / spec.file if path.is_dir() else path
        if not path.is_file():
            raise UserError(f"{name}: no such file {path}")
        return path
    return next((d / spec.file for d in _dirs() if (d / spec.file).is_file()), None)


def _read(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        if path.name.endswith((".jsonl", ".jsonl.gz")):
            return [json.loads(line) for line in f if line.strip()]
        return json.load(f)


def _hub(name: str, spec: Spec) -> list[dict]:
    where = " or ".join(str(d) for d in _dirs())
    hint = f"{name}: {spec.file} not found in {where}; pass --data PATH or set SIKAO_DATA_PATH"
    try:
        import datasets
    except ImportError:
        raise UserError(f"{hint} (the hub fallback needs the `datasets` package, not installed)")
    path, config, split = spec.hub
    try:
        return [dict(r) for r in datasets.load_dataset(path, config, split=split)]
    except Exception as e:  # offline, gated, renamed: all the same to the user
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{hint} (hub download of {path} failed: {first})")
