"""Small modal dialogs: a line of text (rename) and a yes/no question (delete)."""
from __future__ import annotations

from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class Ask(ModalScreen[str | None]):
    BINDINGS = [("escape", "dismiss(None)", "Cancel")]

    def __init__(self, question: str, value: str = ""):
        super().__init__(classes="dialog")
        self.question, self.value = question, value

    def compose(self):
        with Vertical():
            yield Label(self.question)
            yield Input(self.value)
            yield Label("[dim]Enter saves · Esc cancels[/]")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)


class Confirm(ModalScreen[bool]):
    BINDINGS = [("y", "dismiss(True)", "Yes"), ("n,escape", "dismiss(False)", "No")]

    def __init__(self, question: str):
        super().__init__(classes="dialog")
        self.question = question

    def compose(self):
        with Vertical():
            yield Label(self.question)
            yield Label("[b]y[/b] yes · [b]n[/b] no")
