"""Score model outputs against problems: math by extracted answer, code by running its tests."""
from __future__ import annotations

from dataclasses import dataclass

from evals import grade_code, sandbox
from evals.data import Problem
from evals.extract import math_answer
from evals.grade_math import equivalent


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
