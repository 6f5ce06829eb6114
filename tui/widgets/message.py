"""A question in the conversation, and the header line both kinds of message share: who speaks,
the version switcher (‹ 2/3 ›) for edited or regenerated turns, and clickable actions."""
from __future__ import annotations

from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static


def header(who: str, mid: int | None, version: tuple[int, int], actions: list[tuple[str, str]],
           facts: str = "") -> Content:
    """`actions`: (label, app action name taking the message id)."""
    parts = [Content.styled(who, "bold")]
    if facts:
        parts.append(Content.styled(f"  {facts}", "$text-muted"))
    if mid is not None:
        index, count = version
        if count > 1:
            parts += [Content("  "), Content.from_markup(f"[@click=app.older({mid})] ‹ [/]"),
                      Content(f"{index}/{count}"), Content.from_markup(f"[@click=app.newer({mid})] › [/]")]
        for text, action in actions:
            parts.append(Content.from_markup(f"  [@click=app.{action}({mid})]{text}[/]"))
    return Content("").join(parts)


class Turn(Vertical):
    """One message of the thread; `mid` is its id in the store (None until it is stored)."""

    can_focus = True
    BINDINGS = [("left", "act('older')", "Older version"), ("right", "act('newer')", "Newer version")]

    def __init__(self, mid: int | None, version: tuple[int, int], classes: str):
        super().__init__(classes=classes)
        self.mid, self.version = mid, version

    async def action_act(self, action: str) -> None:
        """Run an app action on this message (the header's clickable actions do the same)."""
        if self.mid is not None:
            await self.app.run_action(f"{action}({self.mid})")


class Question(Turn):
    BINDINGS = [("e", "act('edit')", "Edit")]

    def __init__(self, text: str, mid: int | None = None, version: tuple[int, int] = (1, 1)):
        super().__init__(mid, version, "question")
        self.text = text

    def compose(self):
        yield Static(header("You", self.mid, self.version, [("✎ edit", "edit")]), classes="head")
        yield Static(self.text, markup=False, classes="body")
