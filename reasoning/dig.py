"""The dynamic inference graph: K branches forked from one prefilled prompt (llm.fork, no
re-prefill), decoded as one batch, each thinking then answering on its own sequence.

Online pruning, DeepConf style: the first `warmup` branches are never pruned; once they have all
finished, the threshold is a percentile of their lowest group confidence (presets: low → 90th,
high → 10th), or a fixed threshold is given. A branch whose lowest full-window group confidence
is under it is dropped from the engine at once (so it stops costing) — a branch that dipped
before the threshold was known is dropped as soon as it is. The last branch standing is never
pruned. Optionally a branch whose last N steps repeat another branch's steps is dropped too."""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.chat import THINK_CLOSE
from reasoning.dig_conf import Confidence, percentile
from reasoning.dig_graph import Graph, normalise, vote
from reasoning.events import (AnswerDelta, BranchFinished, BranchPruned, BranchStarted, Notice,
                              ThinkingDelta, Vote)
from reasoning.live import Live
from reasoning.options import PRUNE_PERCENTILES

STEP_BREAK = "\n\n"


@dataclass
class Branch:
    index: int
    sid: int
    conf: Confidence
    warm: bool
    phase: str  # think | answer
    state: str = "live"  # live | pruned | done
    node: int = 0  # its last graph node
    steps: list[str] = field(default_factory=list)  # closed steps, folded, for duplicate checks
    buf: str = ""  # the open step's text
    step_tokens: int = 0
    step_conf: float = 0.0
    thinking: list[str] = field(default_factory=list)
    answer: list[str] = field(default_factory=list)
    thinking_tokens: int = 0
    answer_tokens: int = 0
    hit_budget: bool = False


def run(live: Live, prompt: str) -> None:
    """Decode the branches, prune, vote; leaves the winner's text in live.answer / live.thinking."""
    o, llm = live.opts, live.llm
    first = "think" if o.think else "answer"
    root = live.add(prompt, _params(live, first))
    live.stats.prompt_tokens = llm.seq(root).n_prompt
    sids = [root, *live.track(llm.fork(root, o.branches - 1))]
    n_warm = o.warmup_branches()
    bs = {sid: Branch(i, sid, Confidence(o.window), i < n_warm, first) for i, sid in enumerate(sids)}
    dig = Dig(live, bs, Graph(live.stats.prompt_tokens), o.prune_threshold)
    for b in bs.values():
        live.emit(BranchStarted(b.index))
    running = set(sids)
    for out in live.decode(running):
        b = bs[out.seq_id]
        if b.state != "live":  # pruned earlier in this step
            continue
        dig.feed(b, out)
        if out.finished:
            dig.end_phase(b, out)
        if b.state != "live":
            running.discard(b.sid)
    dig.finish()


class Dig:
    def __init__(self, live: Live, branches: dict[int, Branch], graph: Graph, threshold: float | None):
        self.live, self.branches, self.graph, self.threshold = live, branches, graph, threshold
        self.ordered = sorted(branches.values(), key=lambda b: b.index)

    # -- per token ----------------------------------------------------------------------------
    def feed(self, b: Branch, out) -> None:
        b.conf.add(out.confidence)
        b.step_tokens += 1
        b.step_conf += out.confidence
        if b.phase == "think":
            b.thinking_tokens += 1
        else:
            b.answer_tokens += 1
        if out.text:
            kind, sink = (ThinkingDelta, b.thinking) if b.phase == "think" else (AnswerDelta, b.answer)
            sink.append(out.text)
            self.live.delta(kind, out.text, b.index, out.confidence)
            b.buf += out.text
            while STEP_BREAK in b.buf.lstrip("\n"):
                head, _, b.buf = b.buf.lstrip("\n").partition(STEP_BREAK)
                self.close_step(b, head)
        if b.state == "live":
            self.check(b)

    def close_step(self, b: Branch, text: str) -> None:
        if not text.strip() or b.state != "live":
            return
        self.add_node(b, text)
        k = self.live.opts.dedup_steps
        if k and len(b.steps) >= k and any(_repeats(b.steps[-k:], o.steps) for o in self.ordered
                                           if o is not b and o.state != "pruned"):
            self.prune(b, "duplicate steps")

    def add_node(self, b: Branch, text: str) -> None:
        n = max(b.step_tokens, 1)
        b.node = self.graph.step(b.index, b.node, b.phase, len(b.steps), text, b.step_tokens,
                                 b.step_conf / n, b.conf.group)
        b.steps.append(" ".join(text.lower().split()))
        b.step_tokens, b.step_conf = 0, 0.0

    def check(self, b: Branch) -> None:
        if self.threshold is not None and not b.warm and b.conf.lowest < self.threshold:
            self.prune(b, "low confidence")

    def prune(self, b: Branch, reason: str) -> None:
        if sum(o.state != "pruned" for o in self.ordered) <= 1:
            return  # someone has to answer
        b.state = "pruned"
        self.live.drop(b.sid)
        step = len(b.steps)
        if b.step_tokens:  # the open step, cut where the branch was pruned
            self.add_node(b, b.buf)
            step = len(b.steps) - 1
        self.graph.prune(b.node)
        low = b.conf.lowest if b.conf.lowest < float("inf") else b.conf.group
        self.live.emit(BranchPruned(b.index, step=step, confidence=low,
                                    threshold=self.threshold if self.threshold is not None else 0.0,
                                    reason=reason))

    # -- per phase ----------------------------------------------------------------------------
    def end_phase(self, b: Branch, out) -> None:
        live, o = self.live, self.live.opts
        self.close_step(b, b.buf)
        b.buf = ""
        if b.state != "live":
            return
        if b.phase == "think":
            if out.finish_reason == "length":
                live.emit(Notice("thinking_budget", f"branch {b.index}: thinking stopped at the "
                                 f"{o.max_thinking_tokens}-token budget", branch=b.index))
            close = "\n\n" if out.stop_str == THINK_CLOSE else "\n" + THINK_CLOSE + "\n\n"
            b.phase = "answer"
            live.llm.append(b.sid, close, _params(live, "answer"))
            return
        if out.finish_reason == "length":
            b.hit_budget = True
            live.emit(Notice("answer_budget", f"branch {b.index}: the answer stopped at the "
                             f"{o.max_tokens}-token budget", branch=b.index))
        b.state = "done"
        live.drop(b.sid)
        live.emit(BranchFinished(b.index, "".join(b.answer).strip(), b.conf.score,
                                 b.thinking_tokens + b.answer_tokens))
        self.set_threshold()

    def set_threshold(self) -> None:
        warm = [b for b in self.ordered if b.warm]
        if self.threshold is not None or not warm or any(b.state != "done" for b in warm):
            return
        self.threshold = percentile([b.conf.score for b in warm], PRUNE_PERCENTILES[self.live.opts.prune])
        for b in self.ordered:
            if b.state == "live":
                self.check(b)

    # -- the end ------------------------------------------------------------------------------
    def finish(self) -> None:
        live, s = self.live, self.live.stats
        for b in self.ordered:
            if b.state == "live":  # out of time
                live.drop(b.sid)
        done = [b for b in self.ordered if b.state == "done"]
        finals = [(b.index, normalise("".join(b.answer)), b.conf.score) for b in done]
        for (i, key, w), b in zip(finals, done):
            self.graph.answer(i, b.node, key, w)
        winner, weights = vote(finals)
        live.emit(Vote(winner, weights, self.graph.to_dict()))
        best = max((b for b, f in zip(done, finals) if f[1] == winner),
                   key=lambda b: b.conf.score, default=None)
        if best is not None:
            live.answer[:], live.thinking[:] = ["".join(best.answer).strip()], ["".join(best.thinking)]
        s.thinking_tokens = sum(b.thinking_tokens for b in self.ordered)
        s.answer_tokens = sum(b.answer_tokens for b in self.ordered)
        s.branches = len(self.ordered)
        s.pruned = sum(b.state == "pruned" for b in self.ordered)
        s.finish_reason = "length" if live.out_of_time or best is None or best.hit_budget else "stop"


def _params(live: Live, phase: str):
    o = live.opts
    if phase == "think":
        return live.params(o.max_thinking_tokens, [THINK_CLOSE])
    return live.params(o.max_tokens)


def _repeats(recent: list[str], steps: list[str]) -> bool:
    k = len(recent)
    return any(steps[j:j + k] == recent for j in range(len(steps) - k + 1))
