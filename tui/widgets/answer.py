"""One assistant turn: the thinking block, a card per search, the branch tree, and the answer as
Markdown. Built whole from a stored message, or fed the live event stream."""
from __future__ import annotations

import re

from textual import events
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownFence

from reasoning.events import (AnswerDelta, BranchPruned, DocumentNotes, Done, Error, Event, Notice,
                              SearchQuery, SearchResults, ThinkingDelta)
from tui.widgets.branch_tree import BranchTree
from tui.widgets.message import Turn, header
from tui.widgets.search_card import SearchCard
from tui.widgets.thinking import Thinking, stored_title

CITATION = re.compile(r"\[citation:(\d+)\]")
FENCE = re.compile(r"^ {0,3}(```|~~~)[^\n]*\n(.*?)^ {0,3}\1", re.S | re.M)
ACTIONS = [("↻ regenerate", "regenerate"), ("⧉ copy", "copy")]


def link_citations(text: str, urls: dict[int, str]) -> str:
    """`[citation:N]` (DeepSeek's search-first form) → `[N]`, a Markdown link to result N."""
    def link(m: re.Match) -> str:
        n = int(m.group(1))
        return f"[[{n}]]({urls[n]})" if urls.get(n) else f"[{n}]"
    return CITATION.sub(link, text)


def code_blocks(text: str) -> list[str]:
    return [m.group(2).rstrip("\n") for m in FENCE.finditer(text)]


def facts(tok_per_s: float | None, seconds: float | None, reason: str | None, complete: bool) -> str:
    out = []
    if tok_per_s:
        out.append(f"{tok_per_s:.1f} tok/s")
    if seconds:
        out.append(f"{seconds:.1f} s")
    if not complete:
        out.append(f"incomplete: {reason or 'interrupted'}")
    elif reason not in (None, "stop"):
        out.append(reason)
    return " · ".join(out)


class Answer(Turn):
    BINDINGS = [("r", "act('regenerate')", "Regenerate"), ("c", "act('copy')", "Copy"),
                ("k", "act('copy_code')", "Copy code"), ("t", "toggle_thinking", "Thinking")]

    def __init__(self, mid: int | None = None, version: tuple[int, int] = (1, 1), text: str = "",
                 reasoning: str = "", searches: list[dict] = (), graph: dict | None = None,
                 note: str = "", notices: list[str] = (), live: bool = False, expanded: bool = False):
        super().__init__(mid, version, "answer")
        self.text, self.note, self.notices, self.live = text, note, list(notices), live
        self.expanded = expanded  # the global "show thinking" toggle
        self.thinking = Thinking(reasoning, "Thinking…" if live else stored_title(reasoning),
                                 collapsed=not (live or expanded))
        self.cards = [SearchCard.from_row(row) for row in searches]
        self.branch_tree = BranchTree.from_graph(graph) if graph else BranchTree()
        self.head = Static(classes="head")
        self.body = Markdown(link_citations(text, self.urls()), classes="body")
        self.foot = Static(markup=False, classes="notices")
        # live state: text per branch, when thinking began, the Markdown stream of the answer
        self.thoughts: dict[int, list[str]] = {}
        self.answers: dict[int, list[str]] = {}
        self.think_start: float | None = None
        self.folded = not live
        self.stream = None
        self.fed = 0  # how many of the job's events this widget has taken

    @classmethod
    def from_row(cls, row: dict, version: tuple[int, int], searches: list[dict], graph: dict | None,
                 expanded: bool = False) -> Answer:
        notices = [n["message"] for n in row["notices"] or []]
        return cls(row["id"], version, row["content"], row["reasoning"], searches, graph,
                   facts(row["tok_per_s"], row["duration"], row["finish_reason"], row["complete"]),
                   notices, expanded=expanded)

    def compose(self):
        yield self.head
        yield self.thinking
        yield from self.cards
        yield self.branch_tree
        yield self.body
        yield self.foot

    def on_mount(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        self.head.update(header("sikao", self.mid, self.version, [] if self.live else ACTIONS, self.note))
        self.foot.update("\n".join(self.notices))
        self.foot.display = bool(self.notices)

    def urls(self) -> dict[int, str]:
        """What [citation:N] points to: result N of the latest search that found something."""
        found = [card.results for card in self.cards if card.results]
        return {r.get("rank") or n: r.get("url", "") for n, r in enumerate(found[-1] if found else [], 1)}

    def lead(self) -> int:
        """The branch that stands for the answer while streaming: the first one not pruned."""
        seen = set(self.thoughts) | set(self.answers) | set(self.branch_tree.branches)
        alive = {b for b in seen if "pruned" not in self.branch_tree.branches.get(b, {})}
        return min(alive or seen or {0})

    async def feed(self, event: Event, at: float) -> None:
        """One live event; `at` is when it arrived (monotonic seconds), for the thinking timer."""
        if self.branch_tree.feed(event):
            self.branch_tree.redraw()
        match event:
            case ThinkingDelta(text=text, branch=b):
                self.think_start = at if self.think_start is None else self.think_start
                self.thoughts.setdefault(b, []).append(text)
                if b == self.lead():
                    self.thinking.show("".join(self.thoughts[b]))
            case AnswerDelta(text=text, branch=b):
                self.fold(at)
                self.answers.setdefault(b, []).append(text)
                if b == self.lead():
                    self.text += text
                    if self.stream is None:
                        self.stream = Markdown.get_stream(self.body)
                    await self.stream.write(text)
            case SearchQuery(query=q, branch=b):
                await self.card(q, b)
            case SearchResults(query=q, branch=b):
                (await self.card(q, b)).found(event.results, event.backend, event.message)
            case DocumentNotes(query=q, branch=b):
                (await self.card(q, b)).noted(event.notes)
            case BranchPruned():  # the lead may have changed: show the new one's text
                self.thinking.show("".join(self.thoughts.get(self.lead(), [])))
                await self.show_answer("".join(self.answers.get(self.lead(), [])))
            case Notice(message=message) | Error(message=message):
                if not any(card.message == message for card in self.cards):  # the card says it already
                    self.notices.append(message if isinstance(event, Notice) else f"error: {message}")
                    self.redraw()
            case Done():
                if event.reasoning:  # the reasoning as recorded: trimmed, the voted branch's
                    self.thinking.show(event.reasoning)
                s = event.stats
                await self.finish(event.answer, at, facts(s.tok_per_s, s.elapsed, s.finish_reason, s.complete))

    async def card(self, query: str, branch: int) -> SearchCard:
        for card in self.cards:
            if card.query_text == query and card.branch == branch:
                return card
        card = SearchCard(query, branch)
        self.cards.append(card)
        await self.mount(card, before=self.branch_tree)
        return card

    def fold(self, at: float) -> None:
        if self.folded:
            return
        self.folded = True
        if self.think_start is not None:
            self.thinking.fold(at - self.think_start)
            self.thinking.collapsed = not self.expanded

    async def show_answer(self, text: str) -> None:
        if self.stream is not None:
            await self.stream.stop()
            self.stream = None
        self.text = text
        await self.body.update(link_citations(text, self.urls()))

    async def finish(self, answer: str | None, at: float, note: str) -> None:
        """The end of a live answer: Done gives the final text; a stop or a failure keeps what
        streamed so far."""
        self.fold(at)
        await self.show_answer(answer or "".join(self.answers.get(self.lead(), [])))
        self.live, self.note = False, note
        self.redraw()

    def on_click(self, event: events.Click) -> None:
        widget = event.widget
        while widget is not None and widget is not self:
            if isinstance(widget, MarkdownFence):
                event.stop()
                self.app.copy_text(widget.code, "code block")
                return
            widget = widget.parent

    def action_toggle_thinking(self) -> None:
        self.thinking.collapsed = not self.thinking.collapsed
