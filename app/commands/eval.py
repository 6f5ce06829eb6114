"""`sikao eval`: run benchmarks through the engine, score outputs made elsewhere, report runs."""
from __future__ import annotations

import json
from pathlib import Path

import click

from app.errors import UserError


@click.group("eval")
def eval_group():
    """Math and code benchmarks: run, score, report."""


@eval_group.command("score")
@click.argument("pred", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the scored records (JSONL).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--data", type=click.Path(exists=True, path_type=Path),
              help="Dataset file, or a dir holding the datasets' files.")
@click.option("--workers", type=click.IntRange(1), help="Concurrent code sandboxes.")
def score_cmd(pred, out, as_json, data, workers):
    """Score model outputs: JSONL lines of {"dataset", "id", "output"}."""
    from evals.score import score_file

    lines = pred.read_text(encoding="utf-8").splitlines()
    records, summary = score_file(lines, str(pred), data, workers)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                   encoding="utf-8")
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    for name, s in summary.items():
        click.echo(f"{name}: " + "  ".join(f"{k}={_fmt(v)}" for k, v in s.items()))


@eval_group.command("report")
@click.argument("runs", nargs=-1, type=int)
@click.option("--plots", "plot_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to write the PNG plots (default: <data dir>/evals/plots).")
def report_cmd(runs, plot_dir):
    """A table of eval runs (all, or the RUN ids given) and PNG plots."""
    from evals.report import plots, table
    from evals.store import Registry

    reg = Registry()
    chosen = reg.runs(list(runs) or None)
    if not chosen:
        raise UserError("no eval runs yet (start one with `sikao eval run DATASET`)")
    click.echo(table(chosen))
    for path in plots(chosen, plot_dir or reg.base / "plots"):
        click.echo(f"wrote {path}")


def _fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)
