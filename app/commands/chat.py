"""`sikao chat`: the Textual chat application (what `make run` starts)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from app.common import model_options
from app.config import CHOICES, Config
from app.errors import UserError


@click.command()
@model_options
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path),
              help="History database file (default: history.db in the user data dir).")
@click.option("--think/--no-think", default=None, help="Start with thinking on or off.")
@click.option("--search", type=click.Choice(CHOICES["search"]), default=None,
              help="Start with this search mode.")
@click.option("--branches", type=click.IntRange(1, 64), default=None, help="Start with this many branches.")
@click.option("--max-tokens", type=click.IntRange(1), default=None, help="Answer budget in tokens.")
@click.option("--engine", metavar="URL", default=None,
              help="An OpenAI-compatible server to run the model on (see `sikao ask --help`).")
def chat(model, device, dtype, quant, db, think, search, branches, max_tokens, engine):
    """Chat in the terminal: streamed thinking and answers, search, branches, history."""
    from dataclasses import fields

    from app.config import KEYS
    from app.store import Store
    from reasoning import Options
    from tui.app import ChatApp

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UserError("sikao chat needs an interactive terminal (use `sikao ask` in scripts)")
    cfg = Config.load().merged(dict(model=model, device=device, dtype=dtype, quant=quant, think=think,
                                    search=search, branches=branches, max_tokens=max_tokens))
    opts = Options(**{f.name: getattr(cfg, f.name) for f in fields(Options) if f.name in KEYS})
    model_args = dict(model=cfg.model, quant=cfg.quant, device=None if cfg.device == "auto" else cfg.device,
                      dtype=None if cfg.dtype == "auto" else cfg.dtype, engine=engine)
    # With logging off the conversation still needs somewhere to live while the app runs.
    store = Store(db) if db or cfg.log else Store(":memory:")
    with store:
        ChatApp(store, opts, model_args).run()
