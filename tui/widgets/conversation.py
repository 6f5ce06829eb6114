"""The scrolling thread of the conversation being viewed, built from the history store."""
from __future__ import annotations

from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.widgets.answer import Answer
from tui.widgets.message import Question, Turn

WELCOME = """[b]思考 sikao[/b] — ask anything.

[dim]Enter sends · Ctrl+J new line · ↑ earlier questions · Esc stops an answer
Ctrl+T think · Ctrl+S search · Ctrl+G branches · Ctrl+O show thinking · Ctrl+B history[/dim]"""


def version_of(store, mid: int) -> tuple[int, int]:
    """Which version message `mid` is among its siblings (edits, regenerations), and of how many."""
    ids = [m["id"] for m in store.siblings(mid)]
    return ids.index(mid) + 1, len(ids)


class Conversation(VerticalScroll):
    def __init__(self, *children, **kwargs):
        super().__init__(*children, **kwargs)
        self.expanded = False  # the global thinking toggle, for answers built later
        self.live: Answer | None = None  # the answer being generated, when it is in this thread

    async def show(self, store, cid: int | None, leaf: int | None, job=None) -> list[dict]:
        """Replace the view with the thread from the root to `leaf`; returns the thread. If the
        answer `job` is generating belongs to it, it gets a live (empty) widget in `self.live`,
        for the caller to feed the job's events into."""
        thread = store.thread(cid, leaf) if cid is not None else []
        turns, self.live = [], None
        for row in thread:
            version = version_of(store, row["id"])
            if row["role"] == "user":
                turns.append(Question(row["content"], row["id"], version))
            elif job is not None and row["id"] == job.message_id:
                self.live = Answer(version=version, live=True, expanded=self.expanded)
                turns.append(self.live)
            elif row["role"] == "assistant":
                turns.append(Answer.from_row(row, version, store.search_calls(row["id"]),
                                             store.graph(row["id"]), self.expanded))
        if job is not None and self.live is None and thread and thread[-1]["id"] == job.user_id:
            self.live = Answer(live=True, expanded=self.expanded)
            turns.append(self.live)
        with self.app.batch_update():
            await self.remove_children()
            await self.mount_all(turns or [Static(WELCOME, classes="welcome")])
        self.scroll_end(animate=False, immediate=True)
        self.anchor()
        return thread

    def find(self, mid: int) -> Turn | None:
        return next((t for t in self.query(Turn) if t.mid == mid), None)

    def last_answer(self) -> Answer | None:
        answers = self.query(Answer)
        return answers.last() if answers else None

    def show_thinking(self, expanded: bool) -> None:
        self.expanded = expanded
        for answer in self.query(Answer):
            answer.expanded = expanded
            answer.thinking.collapsed = not expanded
