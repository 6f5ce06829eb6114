"""The history: conversations, newest first, and full-text search over everything said in them."""
from __future__ import annotations

from dataclasses import dataclass

from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Input, ListItem, ListView, Static


class Chat(ListItem):
    def __init__(self, cid: int, title: str, snippet: str = "", message_id: int | None = None):
        label = Content.styled(title or "(untitled)", "bold" if snippet else "")
        if snippet:
            label = Content.assemble(label, "\n", (" ".join(snippet.split()), "$text-muted"))
        super().__init__(Static(label))
        self.cid, self.title, self.message_id = cid, title, message_id


class Sidebar(Vertical):
    BINDINGS = [("n", "app.new_chat", "New"), ("r", "rename", "Rename"), ("d", "delete", "Delete")]

    @dataclass
    class Open(Message):
        cid: int
        message_id: int | None  # a search hit: open the branch holding this message

    def __init__(self, store, **kwargs):
        super().__init__(**kwargs)
        self.store = store
        self.find = Input(placeholder="Search history…", id="find")
        self.chats = ListView(id="chats")

    def compose(self):
        yield Static("[@click=app.new_chat]＋ New chat[/]  [dim]Ctrl+N[/]", id="new-chat")
        yield self.find
        yield self.chats

    async def reload(self, current: int | None = None) -> None:
        """Refill the list: every conversation, or the search hits when the box has a query."""
        store, query = self.store, self.find.value.strip()
        if query:
            items = [Chat(h["conversation_id"], h["title"], h["snippet"], h["message_id"])
                     for h in store.search(query, limit=30)]
        else:
            items = [Chat(c["id"], c["title"]) for c in store.conversations(limit=200)]
        await self.chats.clear()
        await self.chats.extend(items or [ListItem(Static("[dim]nothing found[/]" if query else
                                                          "[dim]no conversations yet[/]"),
                                                   disabled=True)])
        self.chats.index = 0 if items else None
        if not query:
            self.select(current)

    def select(self, cid: int | None) -> None:
        """Highlight the conversation on screen, when the list shows it."""
        ids = [item.cid for item in self.chats.children if isinstance(item, Chat)]
        if cid in ids and not self.find.value.strip():
            self.chats.index = ids.index(cid)

    async def on_input_changed(self, event: Input.Changed) -> None:
        await self.reload()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.chats.focus()

    def on_list_view_selected(self, event: ListView.Selected) -> None:
        if isinstance(event.item, Chat):
            self.post_message(self.Open(event.item.cid, event.item.message_id))

    def highlighted(self) -> Chat | None:
        item = self.chats.highlighted_child
        return item if isinstance(item, Chat) else None

    async def action_rename(self) -> None:
        if chat := self.highlighted():
            await self.app.run_action(f"rename({chat.cid})")

    async def action_delete(self) -> None:
        if chat := self.highlighted():
            await self.app.run_action(f"delete({chat.cid})")
