"""Reasoning: prompts and tags, the graph (think → search → read → think … → answer), branches,
and the event types every front end consumes."""
from reasoning.options import Options


def run(llm, messages, opts: Options | None = None):
    from reasoning.run import run as _run

    return _run(llm, messages, opts)


__all__ = ["Options", "run"]
