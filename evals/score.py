"""Score model outputs against problems: math by extracted answer, code by running its tests."""
from __future__ import annotations

import json
from dataclasses import dataclass

from app.errors import UserError
from evals import grade_code, sandbox
from evals.data import Problem, load
from reasoning.answers import math_answer
from evals.grade_math import equivalent
from evals.metrics import summarize


@dataclass
class Scored:
    extracted: str | None
    correct: bool
    status: str = ""  # code: passed | failed | timeout | empty


def score(problems: list[Problem], outputs: list[str], workers: int | None = None,
          limits: sandbox.Limits | None = None) -> list[Scored]:
    """One Scored per (problem, output) pair; code samples run concurrently in the sandbox."""
    results: list[Scored | None] = [None] * len(outputs)
    code_jobs = []
    for i, (p, out) in enumerate(zip(problems, outputs)):
        if p.kind == "math":
            got = math_answer(out or "")
            results[i] = Scored(got, equivalent(p.answer, got))
            continue
        code, prog = grade_code.program(p, out or "")
        if code.strip():
            code_jobs.append((i, code, prog))
        else:
            results[i] = Scored("", False, "empty")
    runs = sandbox.run_many([prog for _, _, prog in code_jobs], limits, workers)
    for (i, code, _), outcome in zip(code_jobs, runs):
        results[i] = Scored(code, outcome.passed, outcome.status)
    return results


def score_file(lines: list[str], source: str = "input", data=None, workers: int | None = None
               ) -> tuple[list[dict], dict[str, dict]]:
    """`sikao eval score`: JSONL records {dataset, id, output} -> (records with "extracted" and
    "correct" added, summary per dataset)."""
    index: dict[str, dict[str, Problem]] = {}
    records, problems = [], []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            name, pid, output = rec["dataset"], rec["id"], rec["output"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise UserError(f"{source}:{n}: expected a JSON object with dataset, id and output "
                            f"({type(e).__name__}: {e})")
        if name not in index:
            try:
                index[name] = {str(p.id): p for p in load(name, data)}
            except UserError as e:
                raise UserError(f"{source}:{n}: {e.format_message()}")
        problem = index[name].get(str(pid))
        if problem is None:
            raise UserError(f"{source}:{n}: no problem with id {pid!r} in {name}")
        if not isinstance(output, str):
            raise UserError(f"{source}:{n}: output must be a string")
        records.append(rec)
        problems.append(problem)
    scored = score(problems, [r["output"] for r in records], workers)
    out = [{**r, "extracted": s.extracted, "correct": s.correct} for r, s in zip(records, scored)]
    summary = {}
    for name in index:
        mine = [r for r in out if r["dataset"] == name]
        summary[name] = summarize(mine, next(iter(index[name].values())).kind)
    return out, summary
