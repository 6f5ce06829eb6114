from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

SEARCH_MODES = ("off", "first", "agentic", "auto")
# DeepConf's online presets: the share of warm-up confidence kept sets the percentile of the
# warm-up branches' lowest group confidence used as the pruning threshold.
PRUNE_PERCENTILES = {"low": 90.0, "high": 10.0}  # DeepConf-low keeps the top 10%, -high the top 90%


@dataclass
class Options:
    """What a front end asks of one answer. Every field is also a CLI flag / config key."""

    think: bool = False
    # off | first (search the question, DeepSeek web-search prompt) | agentic (Search-o1: the model
    # searches inside its thought) | auto (agentic for models whose template thinks natively, the
    # R1 / QwQ / Qwen3 families that follow Search-o1's tags; search first for the others)
    search: str = "off"
    branches: int = 1
    max_thinking_tokens: int = 1024
    max_tokens: int = 512  # answer budget
    max_searches: int = 5
    max_reading_tokens: int = 256  # Reason-in-Documents notes per search
    wall_time: float | None = None  # seconds for the whole answer
    temperature: float = 0.6  # R1's recommendation
    top_p: float = 0.95
    seed: int | None = None
    system: str | None = None
    # search backend (tools): used when no searcher is given
    search_backend: str = "auto"  # auto | ddg | searxng | local
    search_k: int = 5  # results per search
    page_chars: int = 1500  # text the model reads per result
    searxng_url: str | None = None
    corpus: str | None = None  # local corpus index file (default: the user data dir's)
    allow_hosts: list[str] = field(default_factory=list)  # private hosts pages may be read from
    searcher: Callable | None = None  # query -> list[reasoning.sources.Source]; overrides the above
    # dynamic inference graph (branches > 1)
    window: int = 64  # DeepConf group-confidence window in tokens (DeepConf: 2048 on 32k traces)
    prune: str = "high"  # off | low | high (DeepConf presets)
    warmup: int | None = None  # unpruned branches that set the threshold; None: max(2, K // 8), < K
    prune_threshold: float | None = None  # a fixed threshold instead of the warm-up's
    dedup_steps: int = 0  # > 0: prune a branch whose last N steps repeat another branch's
    # beam search (beams > 1): the likeliest reply instead of a sample (reasoning/beams.py)
    beams: int = 1
    length_penalty: float = 1.0  # a hypothesis scores logprob / length ** length_penalty

    def __post_init__(self):
        if self.search not in SEARCH_MODES:
            raise ValueError(f"search must be one of {', '.join(SEARCH_MODES)}, got {self.search!r}")
        if self.prune not in ("off", *PRUNE_PERCENTILES):
            raise ValueError(f"prune must be off, low or high, got {self.prune!r}")
        if self.branches < 1 or self.window < 1 or self.beams < 1:
            raise ValueError("branches, window and beams must be at least 1")
        if self.beams > 1 and (self.branches > 1 or self.search != "off"):
            raise ValueError("beam search is a decode mode of its own: use it with --search off "
                             "and --branches 1")

    def warmup_branches(self) -> int:
        if self.prune_threshold is not None or self.prune == "off":
            return 0
        n = self.warmup if self.warmup is not None else max(2, self.branches // 8)
        return max(1, min(n, self.branches - 1))
