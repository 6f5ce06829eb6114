"""`sikao eval report`: a table of runs and PNG plots (accuracy vs. tokens; branches with pruning
vs. self-consistency at equal K)."""
from __future__ import annotations

from pathlib import Path

from evals.store import Run

COLUMNS = ["run", "dataset", "model", "K", "problems", "accuracy", "best@K", "tokens/prob", "tok/s",
           "version", "state"]


def k_of(run: Run) -> int:
    return int(run.params.get("branches") or run.params.get("n") or 1)


def best_at_k(run: Run) -> float | None:
    """The run's answer quality at its K: the answer the branch graph voted for, maj@K (math) or
    pass@K (code) for sampled runs, plain accuracy at K = 1."""
    k, m = k_of(run), run.metrics
    for key in ("voted", f"maj@{k}", f"pass@{k}", "accuracy"):
        if key in m:
            return m[key]
    return None


def _fmt(x) -> str:
    if x is None:
        return "-"
    return f"{x:.3f}" if isinstance(x, float) else str(x)


def _one(x) -> str | None:
    return None if x is None else f"{x:.1f}"


def table(runs: list[Run]) -> str:
    rows = [COLUMNS]
    for r in runs:
        m = r.metrics
        rows.append([_fmt(v) for v in (
            r.id, r.dataset, r.model, k_of(r), m.get("problems"), m.get("accuracy"), best_at_k(r),
            _one(m.get("tokens_per_problem")), _one(m.get("tok_per_s")), r.version,
            "done" if r.finished else "unfinished")])
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)


def plots(runs: list[Run], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    done = [r for r in runs if r.finished and "accuracy" in r.metrics]
    paths = []
    scored = [r for r in done if "tokens_per_problem" in r.metrics]
    if scored:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for r in scored:
            x, y = r.metrics["tokens_per_problem"], best_at_k(r)
            ax.scatter(x, y)
            kind = "branches" if r.params.get("branches") else "samples"
            ax.annotate(f"#{r.id} {r.dataset} {r.model} {kind}={k_of(r)}", (x, y), fontsize=8,
                        xytext=(4, 4), textcoords="offset points")
        ax.set(xlabel="tokens per problem", ylabel="accuracy at K", ylim=(0, 1.05),
               title="Accuracy vs. tokens")
        ax.grid(alpha=0.3)
        paths.append(_save(fig, out / "accuracy_vs_tokens.png"))
    compare = _branches_vs_sc(done)
    if compare:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        labels = [f"{d} K={k}" for d, k in compare]
        xs = range(len(labels))
        sc = [compare[key][0] for key in compare]
        br = [compare[key][1] for key in compare]
        ax.bar([x - 0.2 for x in xs], sc, 0.4, label="self-consistency (maj@K)")
        ax.bar([x + 0.2 for x in xs], br, 0.4, label="branches + pruning (the graph's vote)")
        ax.set_xticks(list(xs), labels)
        ax.set(ylabel="accuracy", ylim=(0, 1.05), title="Branches vs. self-consistency at equal K")
        ax.legend()
        paths.append(_save(fig, out / "branches_vs_self_consistency.png"))
    return paths


def _branches_vs_sc(runs: list[Run]) -> dict[tuple[str, int], tuple[float, float]]:
    """(dataset, K) -> (self-consistency accuracy, branch accuracy), latest run of each kind."""
    sc, br = {}, {}
    for r in runs:
        key = (r.dataset, k_of(r))
        if key[1] > 1:
            (br if r.params.get("branches") else sc)[key] = best_at_k(r)
    return {key: (sc[key], br[key]) for key in sorted(sc.keys() & br.keys())}


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
