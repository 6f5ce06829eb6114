"""`sikao ask "question"`: one answer, streamed to the terminal and recorded in the history."""
from __future__ import annotations

import sys
from contextlib import nullcontext
from dataclasses import asdict, fields
from pathlib import Path

import click

from app.common import load_llm, model_options
from app.errors import UserError


# Reasoning flags that are not config keys: they go to Options as given.
OPTIONS = ("corpus", "max_searches", "wall_time", "window", "prune", "prune_threshold", "warmup",
           "dedup_steps", "beams", "length_penalty")


@click.command()
@click.argument("question", required=False)
@click.option("--think/--no-think", default=None, help="Reason visibly before answering.")
@click.option("--max-tokens", type=click.IntRange(1), default=None, help="Answer budget in tokens.")
@click.option("--max-thinking-tokens", type=click.IntRange(1), default=None)
@click.option("--temperature", type=click.FloatRange(0), default=None)
@click.option("--top-p", type=click.FloatRange(0, 1, min_open=True), default=None)
@click.option("--seed", type=int, default=None)
@click.option("--system", default=None, help="A system prompt.")
@click.option("--search", type=click.Choice(["off", "first", "agentic", "auto"]), default=None,
              help="first: search the question and answer citing the pages; agentic: the model "
                   "searches inside its thought (Search-o1); auto: agentic for models that think "
                   "natively, else first.")
@click.option("--search-backend", type=click.Choice(["auto", "duckduckgo", "searxng", "local"]),
              default=None, help="Where searches go (local: the corpus of `sikao index`).")
@click.option("--searxng-url", metavar="URL", default=None, help="Base URL of a SearXNG instance.")
@click.option("--corpus", type=click.Path(dir_okay=False), default=None,
              help="Local corpus index file (default: in the user data dir).")
@click.option("--max-searches", type=click.IntRange(0), default=None, help="Searches per answer (5).")
@click.option("--wall-time", type=click.FloatRange(0, min_open=True), default=None,
              help="Seconds for the whole answer.")
@click.option("--branches", type=click.IntRange(1, 64), default=None,
              help="Think along K branches, prune the unsure ones, vote.")
@click.option("--window", type=click.IntRange(1), default=None,
              help="Tokens in the confidence window of a branch (64).")
@click.option("--prune", type=click.Choice(["off", "low", "high"]), default=None,
              help="DeepConf pruning: low prunes hard (threshold: the 90th percentile of the "
                   "warm-up's confidence), high (default) lightly (its 10th percentile).")
@click.option("--prune-threshold", type=float, default=None,
              help="A fixed confidence threshold instead of the warm-up branches'.")
@click.option("--warmup", type=click.IntRange(1), default=None,
              help="Branches that are never pruned and set the threshold.")
@click.option("--dedup", "dedup_steps", type=click.IntRange(0), default=None,
              help="Prune a branch whose last N steps repeat another branch's.")
@click.option("--beams", type=click.IntRange(1, 64), default=None,
              help="Decode by beam search over N beams: the likeliest reply, not a sample (shown "
                   "when the search ends; no --search, no --branches).")
@click.option("--length-penalty", type=float, default=None,
              help="Beam score = logprob / length ** P (1.0; higher favours longer replies).")
@click.option("--json", "as_json", is_flag=True, help="One JSON event per line.")
@click.option("--log/--no-log", default=None, help="Record the exchange in the history (default: on).")
@click.option("-c", "--continue", "cont", is_flag=True, help="Continue the most recent conversation.")
@click.option("--cid", type=int, default=None, help="Continue conversation ID.")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="History database file (default: history.db in the user data dir).")
@click.option("--engine", metavar="URL", default=None,
              help="An OpenAI-compatible server (sikao serve, vLLM, SGLang…) to run the model on; "
                   "--model picks one of its models, SIKAO_API_KEY is sent as its key.")
@model_options
def ask(question, system, as_json, cont, cid, db, engine, **flags):
    """Ask one QUESTION (or read it from stdin) and stream the answer.

    Defaults come from config.toml (`sikao config show`); flags given here win."""
    from app.config import KEYS, Config
    from app.render import Renderer
    from app.store import Store
    from engine.errors import EngineError
    from reasoning import Options, run

    cfg = Config.load().merged(flags)  # the config-backed flags: --think, --temperature, --model…
    if question is None and not sys.stdin.isatty():
        question = sys.stdin.read()
    if not question or not question.strip():
        raise UserError("empty question: give it as an argument or on stdin")
    if cont and cid is not None:
        raise UserError("give either --continue or --cid, not both")
    given = {k: v for k, v in flags.items() if k in OPTIONS and v is not None}
    try:  # before the model loads: a bad combination fails at once
        opts = Options(**{f.name: getattr(cfg, f.name) for f in fields(Options) if f.name in KEYS},
                       system=system, **given)
    except ValueError as err:  # combinations no single flag can check, e.g. --beams with --search
        raise UserError(str(err)) from None
    store = Store(db) if cfg.log or cont or cid is not None else None
    if cont:
        cid = store.last_conversation()
        if cid is None:
            raise UserError("no conversation to continue yet")
    prior = store.history_for_model(cid) if cid is not None else []
    question = question.strip()
    llm = load_llm(cfg.model, None if cfg.device == "auto" else cfg.device,  # "auto" is the engine's None
                   None if cfg.dtype == "auto" else cfg.dtype, cfg.quant, engine=engine)
    recording = nullcontext()
    if cfg.log:
        cid = store.new_conversation(model=cfg.model) if cid is None else cid
        user = store.add_user(cid, question, parent_id=store.leaf(cid))
        recording = store.recorder(cid, user, model=llm.name, params=asdict(opts))
    render = Renderer(as_json=as_json)
    try:
        with recording as rec:  # Ctrl+C or an engine error still saves the partial answer
            for event in run(llm, prior + [{"role": "user", "content": question}], opts):
                if rec:
                    rec.feed(event)
                render(event)
    except KeyboardInterrupt:
        click.echo("\n[stopped]", err=True)
        sys.exit(130)
    except EngineError as err:
        raise UserError(str(err)) from None
