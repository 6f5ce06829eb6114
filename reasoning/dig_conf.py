"""DeepConf confidence of a branch. Token confidence (mean -logprob of the top-20 tokens) comes with
each engine step; group confidence is its mean over a sliding window; a branch's score is its
lowest group confidence (DeepConf's "lowest group"), which both prunes and weights the vote."""
from __future__ import annotations

import math
from collections import deque


class Confidence:
    def __init__(self, window: int):
        self.window = window
        self.recent: deque[float] = deque(maxlen=window)
        self.total = 0.0  # sum of `recent`
        self.lowest = math.inf  # over full windows only, as DeepConf checks them
        self.n, self.sum = 0, 0.0

    def add(self, c: float) -> None:
        if len(self.recent) == self.window:
            self.total -= self.recent[0]
        self.recent.append(c)
        self.total += c
        self.n += 1
        self.sum += c
        if len(self.recent) == self.window:
            self.lowest = min(self.lowest, self.group)

    @property
    def group(self) -> float:
        """The current window's mean (a shorter trace: the mean so far)."""
        return self.total / len(self.recent) if self.recent else 0.0

    @property
    def score(self) -> float:
        """Lowest group confidence; a trace shorter than one window scores its mean."""
        if self.lowest < math.inf:
            return self.lowest
        return self.sum / self.n if self.n else 0.0


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), q in [0, 100]."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)
