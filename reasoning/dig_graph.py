"""The inference graph of a branched answer, and the vote.

Node 0 is the shared prompt; each branch adds a chain of step nodes (text between blank lines),
each edge weighted by the branch's group confidence when the step closed; finished branches point
to answer nodes, one per normalised answer, so equal answers merge. The answer is the
confidence-weighted vote over those nodes."""
from __future__ import annotations

from reasoning.answers import math_answer

PREVIEW = 200  # characters of a step kept in its node; the full text is in the branch's deltas


def normalise(answer: str) -> str:
    """The key equal answers merge on: the last \\boxed{} or number, else the text folded."""
    found = math_answer(answer)
    if found:
        return found.strip().strip("$").strip()
    return " ".join(answer.lower().split()).strip(" .!")


class Graph:
    def __init__(self, prompt_tokens: int):
        self.nodes: list[dict] = [{"id": 0, "kind": "prompt", "branch": None, "tokens": prompt_tokens}]
        self.edges: list[dict] = []
        self.answer_ids: dict[str, int] = {}

    def step(self, branch: int, parent: int, phase: str, index: int, text: str, tokens: int,
             confidence: float, group: float) -> int:
        node = {"id": len(self.nodes), "kind": "step", "branch": branch, "phase": phase,
                "step": index, "text": text.strip()[:PREVIEW], "tokens": tokens,
                "confidence": round(confidence, 4), "pruned": False}
        self.nodes.append(node)
        self.edges.append({"source": parent, "target": node["id"], "weight": round(group, 4)})
        return node["id"]

    def prune(self, node: int) -> None:
        self.nodes[node]["pruned"] = True

    def answer(self, branch: int, parent: int, key: str, weight: float) -> None:
        """Merge a finished branch into the node of its normalised answer."""
        nid = self.answer_ids.get(key)
        if nid is None:
            nid = self.answer_ids[key] = len(self.nodes)
            self.nodes.append({"id": nid, "kind": "answer", "answer": key, "branches": [],
                               "weight": 0.0, "pruned": False})
        node = self.nodes[nid]
        node["branches"].append(branch)
        node["weight"] = round(node["weight"] + weight, 4)
        self.edges.append({"source": parent, "target": nid, "weight": round(weight, 4)})

    def to_dict(self) -> dict:
        return {"nodes": self.nodes, "edges": self.edges}


def vote(finals: list[tuple[int, str, float]]) -> tuple[str, dict[str, float]]:
    """finals: (branch, normalised answer, weight) → (winner, total weight per answer). Ties go to
    the answer that finished first."""
    weights: dict[str, float] = {}
    for _, key, w in finals:
        weights[key] = weights.get(key, 0.0) + w
    winner = max(weights, key=weights.get) if weights else ""
    return winner, {k: round(v, 4) for k, v in weights.items()}
