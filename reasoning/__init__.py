"""Reasoning: prompts and tags, the graph (think → search → read → think … → answer), branches,
and the event types every front end consumes. `run()` is the entry point (reasoning/entry.py)."""
from reasoning.options import Options


def run(llm, messages, opts: Options | None = None):
    # Imported on first use: the graph pulls in LangGraph, which `sikao history` never needs.
    from reasoning.entry import run as _run

    return _run(llm, messages, opts)


__all__ = ["Options", "run"]
