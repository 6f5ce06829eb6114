"""The branches of one answer as a tree: each with its confidence and length, pruned ones dimmed,
and the confidence-weighted vote that picked the answer."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Tree

from reasoning.events import (AnswerDelta, BranchFinished, BranchPruned, BranchStarted, Event,
                              ThinkingDelta, Vote)


class BranchTree(Tree):
    def __init__(self, branches: dict[int, dict] | None = None, vote: dict | None = None):
        super().__init__("Branches", classes="branch-tree")
        # branch -> the graph row's shape (parent / pruned / finished) plus live `tokens` and `conf`
        self.branches: dict[int, dict] = branches or {}
        self.vote = vote  # {"answer", "weights"} once voted
        self.show_root = True
        self.guide_depth = 2
        self.display = len(self.branches) > 1

    @classmethod
    def from_graph(cls, graph: dict) -> BranchTree:
        branches = {int(b): dict(info) for b, info in (graph.get("branches") or {}).items()}
        vote = {"answer": graph["answer"], "weights": graph["weights"]} if graph.get("weights") else None
        return cls(branches, vote)

    def on_mount(self) -> None:
        self.redraw()

    def feed(self, event: Event) -> bool:
        """Take one event; True when the tree changed shape (the caller redraws on those)."""
        match event:
            case ThinkingDelta(branch=b) | AnswerDelta(branch=b):
                info = self.branches.setdefault(b, {})
                info["tokens"] = info.get("tokens", 0) + event.tokens
                if event.confidence is not None:  # a running mean of the token confidence
                    n = info.get("scored", 0) + event.tokens
                    info["conf"] = (info.get("conf", 0.0)
                                    + (event.confidence - info.get("conf", 0.0)) * event.tokens / n)
                    info["scored"] = n
                return False
            case BranchStarted(branch=b, parent=parent):
                self.branches.setdefault(b, {})["parent"] = parent
            case BranchPruned(branch=b):
                self.branches.setdefault(b, {})["pruned"] = {
                    "step": event.step, "confidence": event.confidence, "threshold": event.threshold,
                    "reason": event.reason}
            case BranchFinished(branch=b):
                self.branches.setdefault(b, {})["finished"] = {
                    "answer": event.answer, "confidence": event.confidence, "tokens": event.tokens}
            case Vote():
                self.vote = {"answer": event.answer, "weights": event.weights}
            case _:
                return False
        return True

    def redraw(self) -> None:
        self.display = len(self.branches) > 1
        self.clear()
        alive = sum("pruned" not in i for i in self.branches.values())
        if self.vote:
            self.root.set_label(Text.assemble(("Vote → ", "bold"), (self.vote["answer"] or "(none)", "bold green")))
        else:
            self.root.set_label(Text(f"Branches · {alive} of {len(self.branches)} alive", style="bold"))
        nodes = {}
        for b in sorted(self.branches, key=lambda b: (self.branches[b].get("parent") is not None, b)):
            parent = nodes.get(self.branches[b].get("parent"), self.root)
            nodes[b] = parent.add(label(b, self.branches[b]), expand=True, allow_expand=False)
        weights = (self.vote or {}).get("weights", {})
        total = sum(weights.values()) or 1.0
        for answer, weight in sorted(weights.items(), key=lambda kv: -kv[1]):
            share = weight / total  # the vote's weights are confidence sums: show each one's share
            self.root.add_leaf(Text.assemble((f"{answer}  ", "bold"), ("▮" * max(1, round(share * 10)), "green"),
                                             f" {share:.0%}", (f" (weight {weight:.2f})", "dim")))
        self.root.expand()


def label(branch: int, info: dict) -> Text:
    pruned, finished = info.get("pruned"), info.get("finished")
    tokens = (finished or {}).get("tokens") or info.get("tokens", 0)
    parts = [(f"branch {branch}", "bold")]
    if pruned:
        parts.append(f"  pruned at step {pruned['step']}: conf {pruned['confidence']:.2f}"
                     f" < {pruned['threshold']:.2f}")
        return Text.assemble(*parts, style="dim")
    conf = finished["confidence"] if finished else info.get("conf")
    if conf is not None:
        parts.append(f"  conf {conf:.2f}")
    parts.append((f"  {tokens} tok", "dim"))
    if finished:
        parts.append(("  → ", "dim"))
        parts.append((finished["answer"] or "(no answer)", "green"))
    return Text.assemble(*parts)
