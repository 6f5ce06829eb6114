"""`sikao ask "question"`: one answer, streamed to the terminal."""
from __future__ import annotations

import sys

import click

from app.common import load_llm, model_options
from app.errors import UserError


@click.command()
@click.argument("question", required=False)
@click.option("--think/--no-think", default=False, help="Reason visibly before answering.")
@click.option("--max-tokens", type=click.IntRange(1), default=512, show_default=True,
              help="Answer budget in tokens.")
@click.option("--max-thinking-tokens", type=click.IntRange(1), default=1024, show_default=True)
@click.option("--temperature", type=click.FloatRange(0), default=0.6, show_default=True)
@click.option("--top-p", type=click.FloatRange(0, 1, min_open=True), default=0.95, show_default=True)
@click.option("--seed", type=int, default=None)
@click.option("--system", default=None, help="A system prompt.")
@click.option("--json", "as_json", is_flag=True, help="One JSON event per line.")
@model_options
def ask(question, think, max_tokens, max_thinking_tokens, temperature, top_p, seed, system,
        as_json, model, device, dtype, quant):
    """Ask one QUESTION (or read it from stdin) and stream the answer."""
    from app.render import Renderer
    from engine.errors import EngineError
    from reasoning import Options, run

    if question is None and not sys.stdin.isatty():
        question = sys.stdin.read()
    if not question or not question.strip():
        raise UserError("empty question: give it as an argument or on stdin")
    llm = load_llm(model, device, dtype, quant)
    opts = Options(think=think, max_tokens=max_tokens, max_thinking_tokens=max_thinking_tokens,
                   temperature=temperature, top_p=top_p, seed=seed, system=system)
    render = Renderer(as_json=as_json)
    try:
        for event in run(llm, question.strip(), opts):
            render(event)
    except KeyboardInterrupt:
        click.echo("\n[stopped]", err=True)
        sys.exit(130)
    except EngineError as err:
        raise UserError(str(err)) from None
