"""Sampling parameters and the sampler of the decode loop.

Order of operations (vLLM v1's `Sampler`), per row of raw last-position logits:

1. logprobs = log_softmax(raw logits)   -- vLLM's default "raw_logprobs": the reported logprob of a
   token and the DeepConf confidence describe the model, not the sampling settings.
   confidence = mean of -logprob over the top-20 tokens (DeepConf: C = -(1/k) sum_j log P(j)).
2. repetition penalty over every token seen in prompt + output (HF/vLLM semantics: a positive logit
   is divided by the penalty, a negative one multiplied).
3. greedy rows (temperature 0, i.e. below 1e-5 as in vLLM, or top_k == 1) take the argmax here.
4. temperature: logits / temperature.
5. min_p: drop tokens whose probability is below min_p * (the top token's probability).
6. top_k: keep the k largest.
7. top_p: keep the smallest set of tokens, by descending probability (renormalised after 5-6), whose
   cumulative probability reaches top_p; the top token is always kept.
8. sample by inverse CDF: one uniform u per row, the token where the cumulative probability
   first exceeds u (vLLM's exponential race needs V exponentials per row, ~30x slower on CPU for
   a 150k vocabulary). A row with its own torch.Generator draws u from it alone, so a seeded row
   gives the same tokens whatever else is in the batch; other rows share the global RNG.

Rows with identical settings are processed as one tensor (a seeded row alone, unless the native
sampler draws it). The full vocabulary is sorted only when top_p is on, top_k is off and the top
1024 tokens hold less than top_p (on CPU a sort of 150k logits costs 5-20 ms a row, a top-64 about
0.15 ms). On CPU with the native kernels, rows with neither top_k nor min_p (temperature and
top_p: the reasoning default) are drawn by engine/cpu's sampler in one pass over the row, by the
same order and rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from engine.cpu import ops

GREEDY_EPS = 1e-5  # as vLLM: smaller temperatures are greedy (dividing by them overflows)
CONF_TOPK = 20  # DeepConf's k
NUCLEUS_PROBES = (64, 1024)  # top_p tries this many candidates before sorting the whole vocab


@dataclass
class SamplingParams:
    temperature: float = 1.0  # 0 = greedy
    top_k: int = -1  # -1 or 0 = off
    top_p: float = 1.0
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    seed: int | None = None
    max_tokens: int = 256
    stop: list[str] = field(default_factory=list)
    stop_token_ids: list[int] = field(default_factory=list)
    ignore_eos: bool = False

    def __post_init__(self):
        if isinstance(self.stop, str):
            self.stop = [self.stop]
        self.stop = list(self.stop)
        self.stop_token_ids = list(self.stop_token_ids)
        checks = [
            (self.temperature >= 0, f"temperature must be >= 0, got {self.temperature}"),
            (isinstance(self.top_k, int) and self.top_k >= -1,
             f"top_k must be an integer >= 1, or -1 / 0 to disable it, got {self.top_k}"),
            (0 < self.top_p <= 1, f"top_p must be in (0, 1], got {self.top_p}"),
            (0 <= self.min_p <= 1, f"min_p must be in [0, 1], got {self.min_p}"),
            (self.repetition_penalty > 0,
             f"repetition_penalty must be > 0, got {self.repetition_penalty}"),
            (self.seed is None or isinstance(self.seed, int),
             f"seed must be an integer or None, got {self.seed!r}"),
            (isinstance(self.max_tokens, int) and self.max_tokens >= 1,
             f"max_tokens must be an integer >= 1, got {self.max_tokens}"),
            (all(isinstance(s, str) and s for s in self.stop),
             f"stop must be a list of non-empty strings, got {self.stop!r}"),
            (all(isinstance(t, int) and t >= 0 for t in self.stop_token_ids),
             f"stop_token_ids must be non-negative integers, got {self.stop_token_ids!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def greedy(self) -> bool:
        return self.temperature < GREEDY_EPS or self.top_k == 1


@dataclass
class Sampled:
    token_ids: Tensor  # [B] long
    logprobs: Tensor  # [B] float: raw logprob of the chosen token
    confidence: Tensor  # [B] float: DeepConf token confidence


def sample(logits: Tensor, params: list[SamplingParams], generators: list[torch.Generator | None],
           history: list[Tensor | list[int]]) -> Sampled:
    """Pick one token per row of `logits` [B, V] (see the module docstring for the order)."""
    raw = logits.float()
    lse, top, argmax = row_stats(raw, min(CONF_TOPK, raw.shape[-1]))
    confidence = lse - top
    logits = apply_penalty(raw, params, history)

    tokens = torch.empty(logits.shape[0], dtype=torch.long, device=logits.device)
    greedy = [i for i, p in enumerate(params) if p.greedy]
    if len(greedy) == len(params) and logits is raw:
        tokens = argmax
    elif greedy:
        rows = torch.tensor(greedy, device=logits.device)
        tokens[rows] = logits[rows].argmax(dim=-1)
    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(params):
        if not p.greedy:
            # a seeded row is its own group where the candidate list its uniform is mapped onto
            # (top_candidates' probe size) would depend on its neighbours; the native sampler
            # draws each row on its own, and one call for 8 seeded branches saves ~0.5 ms a step
            alone = -1 if generators[i] is None or native_nucleus(logits, p.top_k, p.min_p) else i
            groups.setdefault((p.temperature, p.top_k, p.top_p, p.min_p, alone), []).append(i)
    for (temperature, top_k, top_p, min_p, _), rows in groups.items():
        index = torch.tensor(rows, device=logits.device)
        gens = [generators[i] for i in rows]
        if native_nucleus(logits, top_k, min_p):
            u = uniforms(len(rows), gens, logits.device)[:, 0]
            tokens[index] = ops.nucleus(logits, index, temperature, top_p, u)
            continue
        probs, ids = filtered_probs(logits[index] / temperature, top_k, top_p, min_p)
        picked = draw(probs, gens)
        tokens[index] = picked if ids is None else ids.gather(-1, picked[:, None])[:, 0]

    logprobs = raw.gather(-1, tokens[:, None])[:, 0] - lse
    return Sampled(tokens, logprobs, confidence)


def row_stats(logits: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """(logsumexp, mean of the k largest, argmax) per row: one native pass on CPU, where torch
    takes ~15x longer over a 49k vocabulary in four (a sizeable part of a decode step)."""
    if logits.device.type == "cpu" and ops.library() is not None:
        return ops.row_stats(logits, k)
    return logits.logsumexp(dim=-1), logits.topk(k, dim=-1).values.mean(dim=-1), logits.argmax(-1)


def apply_penalty(logits: Tensor, params: list[SamplingParams],
                  history: list[Tensor | list[int]]) -> Tensor:
    """Repetition penalty on every token id in each row's history (a copy; input untouched)."""
    out = logits
    for i, p in enumerate(params):
        if p.repetition_penalty == 1.0 or len(history[i]) == 0:
            continue
        if out is logits:
            out = logits.clone()
        seen = torch.as_tensor(history[i], dtype=torch.long, device=logits.device).unique()
        vals = out[i, seen]
        out[i, seen] = torch.where(vals > 0, vals / p.repetition_penalty,
                                   vals * p.repetition_penalty)
    return out


def filtered_probs(logits: Tensor, top_k: int, top_p: float,
                   min_p: float) -> tuple[Tensor, Tensor | None]:
    """Probabilities after min_p, top_k, top_p, for rows sharing these settings.

    Returns (probs [n, m], ids [n, m] or None): when ids is given, column j of probs is token
    ids[:, j]; otherwise probs spans the whole vocabulary.
    """
    vocab = logits.shape[-1]
    if min_p > 0:  # p < min_p * p_max, in logit space (no softmax over the vocabulary)
        floor = logits.max(dim=-1, keepdim=True).values + math.log(min_p)
        logits = logits.masked_fill(logits < floor, float("-inf"))
    ids = None
    if 0 < top_k < vocab:
        logits, ids = logits.topk(top_k, dim=-1)  # sorted, largest first
    if top_p < 1:
        if ids is None:
            probs, ids = top_candidates(logits, top_p)
            logits = logits.gather(-1, ids)
        else:
            probs = logits.softmax(dim=-1)  # renormalised over the top k
        before = probs.cumsum(dim=-1) - probs  # mass of the strictly more likely tokens
        logits = logits.masked_fill(before >= top_p, float("-inf"))
    return logits.softmax(dim=-1), ids


def top_candidates(logits: Tensor, top_p: float) -> tuple[Tensor, Tensor]:
    """(probs, ids) of the most likely tokens, descending, holding at least top_p of the mass;
    probs stay normalised over the whole vocabulary. Sorts it all only if needed."""
    probs = logits.softmax(dim=-1)
    for k in NUCLEUS_PROBES:
        if k >= logits.shape[-1]:
            break
        top, ids = probs.topk(k, dim=-1)
        if bool((top.sum(dim=-1) >= top_p).all()):
            return top, ids
    return probs.sort(dim=-1, descending=True)


def native_nucleus(logits: Tensor, top_k: int, min_p: float) -> bool:
    """Can engine/cpu's sampler draw these rows? Temperature and top_p only (the reasoning
    default), fp32 on the CPU: one pass where the torch ops below take ~0.3 ms a row."""
    return (not 0 < top_k < logits.shape[-1] and min_p == 0 and logits.device.type == "cpu"
            and logits.dtype == torch.float32 and ops.library() is not None)


def uniforms(n: int, generators: list[torch.Generator | None], device) -> Tensor:
    """[n, 1] uniforms in [0, 1): a row with a generator draws from it alone, the others from the
    global RNG."""
    u = torch.empty(n, 1, device=device)
    if any(g is None for g in generators):
        u.uniform_()
    for row, g in zip(u, generators):
        if g is not None:
            row.uniform_(generator=g)
    return u


def draw(probs: Tensor, generators: list[torch.Generator | None]) -> Tensor:
    """One draw per row from `probs` [n, m]; rows with a generator use only that generator."""
    cdf = probs.cumsum(dim=-1)
    u = uniforms(probs.shape[0], generators, probs.device)
    # right=True: a zero-probability token leaves the CDF flat, so it is never the first entry
    # above the threshold; capping the threshold just below the total keeps that true when
    # u * total rounds up to the total.
    total = cdf[:, -1:]
    threshold = torch.minimum(u * total, torch.nextafter(total, torch.zeros_like(total)))
    return torch.searchsorted(cdf, threshold, right=True)[:, 0]
