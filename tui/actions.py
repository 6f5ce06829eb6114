"""The chat app's actions that do not generate: the toggles, copying, export, and renaming or
deleting conversations. A mixin of ChatApp (tui/app.py), which provides the state they use."""
from __future__ import annotations

from app.paths import data_dir
from tui import clipboard
from tui.screens import Ask, Confirm
from tui.widgets.answer import Answer, code_blocks
from tui.widgets.conversation import Conversation
from tui.widgets.sidebar import Sidebar

SEARCH_MODES = ("off", "first", "agentic", "auto")
BRANCH_STEPS = (1, 2, 4, 8)


class Actions:
    # toggles

    def action_toggle_think(self) -> None:
        self.session.opts.think = not self.session.opts.think
        self.redraw_top()

    def action_cycle_search(self) -> None:
        opts = self.session.opts
        opts.search = SEARCH_MODES[(SEARCH_MODES.index(opts.search) + 1) % len(SEARCH_MODES)]
        self.redraw_top()

    def action_cycle_branches(self) -> None:
        opts = self.session.opts
        opts.branches = next((b for b in BRANCH_STEPS if b > opts.branches), BRANCH_STEPS[0])
        self.redraw_top()

    def action_toggle_thoughts(self) -> None:
        conversation = self.query_one(Conversation)
        conversation.show_thinking(not conversation.expanded)

    def action_toggle_sidebar(self) -> None:
        sidebar = self.query_one(Sidebar)
        sidebar.display = not sidebar.display

    def action_find(self) -> None:
        sidebar = self.query_one(Sidebar)
        sidebar.display = True
        sidebar.find.focus()

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    # copy, export, rename, delete

    def target(self, mid: int | None) -> Answer | None:
        """The answer an action means: the one named, the focused one, or the last on screen."""
        conversation = self.query_one(Conversation)
        if mid is not None:
            return conversation.find(mid)
        return self.focused if isinstance(self.focused, Answer) else conversation.last_answer()

    def copy_text(self, text: str, what: str) -> None:
        saved = clipboard.copy(self, text)
        self.notify(f"Copied the {what}" + (f" (also in {saved})" if saved else "") + ".")

    def action_copy(self, mid: int | None = None) -> None:
        answer = self.target(mid)
        if answer is not None and answer.text:
            self.copy_text(answer.text, "answer")
        else:
            self.notify("No answer to copy.", severity="warning")

    def action_copy_code(self, mid: int | None = None) -> None:
        """The last code block of the answer (clicking a code block copies that one)."""
        answer = self.target(mid)
        blocks = code_blocks(answer.text) if answer is not None else []
        if blocks:
            self.copy_text(blocks[-1], "code block")
        else:
            self.notify("No code block to copy.", severity="warning")

    def action_export(self) -> None:
        from app.commands.history import markdown

        if self.cid is None:
            self.notify("Nothing to export yet.", severity="warning")
            return
        path = data_dir() / "exports" / f"conversation-{self.cid}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(markdown(self.store, self.cid, self.leaf), encoding="utf-8")
        self.notify(f"Exported to {path}")

    def action_rename(self, cid: int | None = None) -> None:
        cid = cid or self.cid
        if cid is None:
            return

        async def done(title: str | None) -> None:
            if title:
                self.store.rename(cid, title)
                await self.query_one(Sidebar).reload(self.cid)

        self.push_screen(Ask("Rename the conversation", self.store.conversation(cid)["title"]), done)

    def action_delete(self, cid: int | None = None) -> None:
        cid = cid or self.cid
        if cid is None:
            return
        if self.job is not None and self.job.cid == cid:
            self.notify("Stop the answer first (Esc).", severity="warning")
            return

        async def done(yes: bool) -> None:
            if yes:
                self.store.delete(cid)
                if cid == self.cid:
                    await self.open(None, None)
                await self.query_one(Sidebar).reload(self.cid)

        title = self.store.conversation(cid)["title"] or "untitled"
        self.push_screen(Confirm(f"Delete “{title}” and all its messages?"), done)
