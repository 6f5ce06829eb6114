"""The model's reasoning above its answer: open while it streams, folded once the answer starts."""
from __future__ import annotations

from textual.widgets import Collapsible, Static


class Thinking(Collapsible):
    def __init__(self, text: str = "", title: str = "Thinking…", collapsed: bool = False):
        self.body = Static(text, markup=False, classes="thought")
        super().__init__(self.body, title=title, collapsed=collapsed, classes="thinking")
        self.display = bool(text)

    def show(self, text: str) -> None:
        self.body.update(text)
        self.display = bool(text)

    def fold(self, seconds: float) -> None:
        self.title = f"Thought for {seconds:.0f} s"
        self.collapsed = True


def stored_title(text: str) -> str:
    """History keeps the reasoning but not how long it took: say how much there was instead."""
    words = len(text.split())
    return f"Thought · {words} word{'s' if words != 1 else ''}"
