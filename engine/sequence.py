"""A live sequence: its tokens, what is not in the KV cache yet, its stopping state and stats."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from engine.detok import Detokenizer, StopMatcher
from engine.sampling import SamplingParams

RUNNING, FINISHED = "running", "finished"


@dataclass
class StepOutput:
    seq_id: int
    token_id: int
    text: str  # newly emitted text (stop strings are never emitted)
    logprob: float
    confidence: float  # DeepConf token confidence: mean -logprob of the top-20 tokens
    finished: bool = False
    finish_reason: str | None = None  # "stop" | "length"
    stop_str: str | None = None  # the stop string that ended the sequence
    stop_pos: int | None = None  # its char offset in the sequence's output_text


@dataclass
class Sequence:
    id: int
    params: SamplingParams
    token_ids: list[int]  # prompt + generated + appended
    slot: int
    detok: Detokenizer
    stops: StopMatcher
    generator: torch.Generator | None
    pending: list[int] = field(default_factory=list)  # tail of token_ids not yet in the KV cache
    n_prompt: int = 0
    generated: int = 0  # since the last add / append: what max_tokens limits
    output_ids: list[int] = field(default_factory=list)  # every generated token
    output_text: str = ""  # every emitted piece of generated text
    logprobs: list[float] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)
    status: str = RUNNING  # finished ones wait for an append or a drop
    finish_reason: str | None = None
    ended_by_token: bool = False  # the last token is an EOS / stop token (not content)

    @property
    def cached(self) -> int:
        return len(self.token_ids) - len(self.pending)

    @property
    def finished(self) -> bool:
        return self.status == FINISHED


def make_generator(seed: int | None, device) -> torch.Generator | None:
    # The sampler draws on the logits' device; a generator must live there too.
    return None if seed is None else torch.Generator(device=device).manual_seed(seed)
