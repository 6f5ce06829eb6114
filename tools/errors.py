"""Typed failures of the tools layer. Each carries one line meant for a person; callers turn them into
a UserError (CLI) or a search-result message (reasoning) without a traceback."""
from __future__ import annotations


class ToolError(Exception):
    """Base of every failure raised by tools/."""

    def __init__(self, message: str):
        super().__init__(one_line(message))


class SearchError(ToolError):
    """A search backend failed or could not be reached."""


class FetchError(ToolError):
    """A page could not be fetched or read."""


class UnsafeURLError(FetchError):
    """A URL was refused by the safety policy (scheme, private address)."""


def one_line(text: object, limit: int = 240) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
