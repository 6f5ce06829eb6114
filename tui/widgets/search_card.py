"""One search: the query and a live status, then the results (numbered by rank, which is what
the answer's [citation:N] refers to) and the notes the model condensed from the pages."""
from __future__ import annotations

from urllib.parse import urlparse

from textual.containers import Vertical
from textual.content import Content
from textual.style import Style
from textual.widgets import Static


def domain(url: str) -> str:
    host = urlparse(url).netloc
    return host.removeprefix("www.") if host else url  # a local-corpus hit is a file path


class SearchCard(Vertical):
    def __init__(self, query: str, branch: int = 0, results: list[dict] | None = None,
                 backend: str = "", message: str = "", notes: str | None = None):
        super().__init__(classes="search-card")
        self.query_text, self.branch = query, branch
        self.results, self.backend, self.message, self.notes = results, backend, message, notes
        self.head = Static(classes="search-head")
        self.list = Static(classes="search-results")
        self.notes_view = Static(markup=False, classes="search-notes")

    @classmethod
    def from_row(cls, row: dict) -> SearchCard:
        return cls(row["query"], row["branch"], row["results"], row["backend"], row["message"], row["notes"])

    def compose(self):
        yield self.head
        yield self.list
        yield self.notes_view

    def on_mount(self) -> None:
        self.redraw()

    def found(self, results: list[dict], backend: str, message: str) -> None:
        self.results, self.backend, self.message = results, backend, message
        self.redraw()

    def noted(self, notes: str) -> None:
        self.notes = notes
        self.redraw()

    def on_click(self) -> None:
        self.notes_view.toggle_class("-full")

    def redraw(self) -> None:
        where = f" · branch {self.branch}" if self.branch else ""
        if self.message:  # e.g. "search failed: <why>": the head says what, the body says why
            status = Content.styled(self.message.split(":", 1)[0], "$warning")
        elif self.results is None:
            status = Content.styled("searching…", "italic $text-muted")
        else:
            via = f" via {self.backend}" if self.backend else ""
            n = len(self.results)
            status = Content.styled(f"{n} result{'s' if n != 1 else ''}{via}", "$success")
        self.head.update(Content.assemble(("⌕ ", "bold $accent"), (self.query_text, "bold"), "  ", status,
                                          (where, "$text-muted")))
        lines = []
        for n, r in enumerate(self.results or [], 1):
            url = r.get("url", "")
            lines.append(Content.assemble((f"[{r.get('rank') or n}] ", "$text-muted"),
                                          (r.get("title") or url, Style(link=url or None)),
                                          (f" — {domain(url)}", "$text-muted")))
        if self.message:
            lines.append(Content.styled(self.message, "$warning"))
        self.list.update(Content("\n").join(lines))
        self.list.display = bool(lines)
        self.notes_view.update(self.notes or "")
        self.notes_view.display = bool(self.notes)
