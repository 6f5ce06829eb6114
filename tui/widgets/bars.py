"""The thin bars around the conversation: the model and toggles on top, the loading progress while
the model loads (or converts, the first time), and the numbers of the last answer at the bottom."""
from __future__ import annotations

from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Label, ProgressBar, Static


def toggle(name: str, value: str, on: bool, action: str, key: str) -> Content:
    return Content.from_markup(f"[@click=app.{action}]{name} [b]$value[/b][/]", value=value).stylize(
        "$success" if on else "$text-muted") + Content.styled(f" {key}", "dim")


class TopBar(Horizontal):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.model = Static(id="model")
        self.toggles = Static(id="toggles")

    def compose(self):
        yield self.model
        yield self.toggles

    def show(self, model: str, quant: str, think: bool, search: str, branches: int) -> None:
        self.model.update(Content.assemble(("思考 sikao", "bold $accent"), "  ", model,
                                           (f" · {quant}" if quant not in ("", "none") else "", "dim")))
        self.toggles.update(Content(" │ ").join([
            toggle("Think", "on" if think else "off", think, "toggle_think", "^T"),
            toggle("Search", search, search != "off", "cycle_search", "^S"),
            toggle("Branches", str(branches), branches > 1, "cycle_branches", "^G")]))


class LoadBar(Horizontal):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.label = Label("loading the model…")
        self.bar = ProgressBar(total=None, show_eta=False)

    def compose(self):
        yield self.label
        yield self.bar

    def progress(self, message: str, fraction: float | None) -> None:
        self.label.update(message)
        if fraction is not None:
            self.bar.update(total=1.0, progress=fraction)

    def failed(self, message: str) -> None:
        self.label.update(Content.styled(message, "$error"))
        self.bar.display = False


class StatusLine(Static):
    def numbers(self, tokens: int, tok_per_s: float, seconds: float, searches: int, state: str = "") -> None:
        parts = [f"{tokens} tokens", f"{tok_per_s:.1f} tok/s", f"{seconds:.1f} s",
                 f"{searches} search{'es' if searches != 1 else ''}"]
        self.update(Content.assemble((state + "  " if state else "", "bold $accent"),
                                     (" · ".join(parts), "$text-muted")))
