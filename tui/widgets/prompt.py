"""The question box. Enter sends; Ctrl+J (or Shift+Enter where the terminal reports it) starts a new
line; Up on the first line and Down on the last walk through earlier questions."""
from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.message import Message
from textual.widgets import TextArea


class Prompt(TextArea):
    @dataclass
    class Submitted(Message):
        text: str

    def __init__(self, **kwargs):
        super().__init__(soft_wrap=True, tab_behavior="focus", show_line_numbers=False, **kwargs)
        self.past: list[str] = []  # earlier questions, oldest first
        self.back = 0  # how many steps Up has gone into `past`; 0 is the draft being typed
        self.draft = ""

    def remember(self, questions: list[str]) -> None:
        self.past = [q for q in questions if q.strip()]
        self.back = 0

    def put(self, text: str) -> None:
        self.text = text
        self.move_cursor(self.document.end)

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            text = self.text.strip()
            if text:
                self.past.append(text)
                self.back = 0
                self.post_message(self.Submitted(text))
            return
        if event.key in ("ctrl+j", "shift+enter"):
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        await super()._on_key(event)

    def action_cursor_up(self, select: bool = False) -> None:
        if select or self.cursor_location[0] > 0 or self.back >= len(self.past):
            return super().action_cursor_up(select)
        if self.back == 0:
            self.draft = self.text
        self.back += 1
        self.put(self.past[-self.back])

    def action_cursor_down(self, select: bool = False) -> None:
        if select or self.cursor_location[0] < self.document.line_count - 1 or self.back == 0:
            return super().action_cursor_down(select)
        self.back -= 1
        self.put(self.past[-self.back] if self.back else self.draft)
