"""`sikao eval`: run benchmarks through the engine, score outputs made elsewhere, report runs."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from app.common import compile_option, load_llm, model_options
from app.errors import UserError
from evals.data import NAMES


@click.group("eval")
def eval_group():
    """Math and code benchmarks: run, score, report."""


@eval_group.command("run")
@click.argument("dataset", type=click.Choice(NAMES))
@click.option("--limit", type=click.IntRange(1), help="Only the first N problems.")
@click.option("--n", "n", type=click.IntRange(1), default=1, show_default=True,
              help="Samples per problem (pass@k, maj@k).")
@click.option("--branches", type=click.IntRange(2), help="K pruned branches per problem instead.")
@click.option("--think/--no-think", default=False, help="Reason in <think> before answering.")
@click.option("--temperature", type=click.FloatRange(0), default=0.6, show_default=True)
@click.option("--top-p", type=click.FloatRange(0, 1, min_open=True), default=0.95,
              show_default=True)
@click.option("--max-tokens", type=click.IntRange(1), default=4096, show_default=True,
              help="Generation budget per sample (thinking included).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--batch", type=click.IntRange(1), default=32, show_default=True,
              help="Sequences in flight at once.")
@click.option("--data", type=click.Path(exists=True, path_type=Path),
              help="Dataset file, or a dir holding the datasets' files.")
@click.option("--engine", metavar="URL", default=None,
              help="An OpenAI-compatible server (sikao serve, vLLM, SGLang…) to generate on.")
@compile_option
@model_options
def run_cmd(dataset, limit, n, branches, think, temperature, top_p, max_tokens, seed, batch, data,
            engine, compile_step, model, device, dtype, quant):
    """Run DATASET through the model (R1 protocol) and score it; resumes an interrupted run."""
    from tqdm import tqdm

    from engine.errors import EngineError
    from evals.run import RunConfig, execute, plan, problems
    from evals.store import Registry

    cfg = RunConfig(dataset, limit, n, branches, think, temperature, top_p, max_tokens, seed, batch)
    chosen = problems(cfg, data)
    llm = load_llm(model, device, dtype, quant, engine=engine, compile_step=compile_step)
    reg = Registry()
    # the weights' precision is part of what a run measures: a resumed run keeps its own
    quant = getattr(llm, "quant", "none")
    work = plan(cfg, chosen, llm.name if quant == "none" else f"{llm.name} · {quant}", reg)
    done = work.total - len(work.todo)
    if done:
        click.echo(f"resuming run {work.run.id}: {done}/{work.total} problems already done",
                   err=True)
    right = [0, 0]
    bar = tqdm(total=work.total, initial=done, unit="problem", desc=dataset, file=sys.stderr)

    def progress(problem, records):
        right[0] += sum(r["correct"] for r in records)
        right[1] += len(records)
        bar.update(1)
        bar.set_postfix(acc=f"{right[0] / right[1]:.3f}")

    try:
        metrics = execute(llm, cfg, work, reg, progress)
    except KeyboardInterrupt:
        bar.close()
        click.echo(f"\n[stopped] run {work.run.id} keeps what it finished; the same command "
                   "resumes it", err=True)
        sys.exit(130)
    except EngineError as err:
        raise UserError(str(err)) from None
    bar.close()
    click.echo(f"run {work.run.id} ({dataset}, {llm.name}): "
               + "  ".join(f"{k}={_fmt(v)}" for k, v in metrics.items()))
    click.echo(f"samples: {reg.samples_path(work.run.id)}")


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
