"""pass@k (Chen et al. 2021), maj@k, the confidence-weighted vote, and per-run summaries."""
from __future__ import annotations

from collections import defaultdict
from typing import Callable

from evals.grade_math import equivalent


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct: 1 - C(n-c, k) / C(n, k), computed as a
    running product so large n neither overflows nor loses precision."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def vote(answers: list[str | None], weights: list[float] | None = None,
         same: Callable[[str, str], bool] = equivalent) -> int | None:
    """Index of a sample carrying the winning answer. Answers are grouped by equivalence (so 0.5
    and \\frac{1}{2} vote together); each group weighs the sum of its weights (1 each for a plain
    majority, the branch confidence for a weighted vote); ties go to the group seen first."""
    weights = weights or [1.0] * len(answers)
    groups: list[list[int]] = []  # sample indices; the first one is the group's representative
    for i, a in enumerate(answers):
        if a is None or not a.strip():
            continue
        for g in groups:
            if a == answers[g[0]] or same(answers[g[0]], a):
                g.append(i)
                break
        else:
            groups.append([i])
    if not groups:
        return None
    best = max(groups, key=lambda g: sum(weights[i] for i in g))  # max keeps the first on ties
    return best[0]


def maj_at_k(answers: list[str | None], correct: list[bool], k: int,
             weights: list[float] | None = None) -> bool:
    winner = vote(answers[:k], weights[:k] if weights else None)
    return winner is not None and correct[winner]


def summarize(records: list[dict], kind: str = "math", elapsed: float | None = None) -> dict:
    """Records are per sample: id, correct, extracted, and optionally tokens and confidence."""
    by_id: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_id[str(r["id"])].append(r)
    if not by_id:
        return {"problems": 0, "samples": 0}
    n = min(len(v) for v in by_id.values())
    out = {"problems": len(by_id), "samples": len(records),
           "accuracy": _mean([sum(r["correct"] for r in v) / len(v) for v in by_id.values()])}
    k = 1
    while k <= n:
        out[f"pass@{k}"] = _mean([pass_at_k(len(v), sum(r["correct"] for r in v), k)
                                  for v in by_id.values()])
        k *= 2
    if kind == "math" and n > 1:
        out[f"maj@{n}"] = _mean([maj_at_k([r["extracted"] for r in v], [r["correct"] for r in v], n)
                                 for v in by_id.values()])
        if all(r.get("confidence") is not None for r in records):
            out[f"weighted@{n}"] = _mean([maj_at_k(
                [r["extracted"] for r in v], [r["correct"] for r in v], n,
                [r["confidence"] for r in v]) for v in by_id.values()])
    tokens = [r["tokens"] for r in records if r.get("tokens") is not None]
    if tokens:
        out["tokens_per_problem"] = sum(tokens) / len(by_id)
        if elapsed:
            out["tok_per_s"] = sum(tokens) / elapsed
    return out


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0
