"""Beam search as a decode mode: keep the `beams` most likely continuations, each in its own KV
slot, and extend all of them in one batched decode step.

Each step scores every (beam, next token) pair by its total logprob and keeps the best 2*beams
(as HF does, so that beams ending in EOS can be set aside without starving the live set). A beam
ending in a stop token, or whose text has just completed a stop string, becomes a finished
hypothesis scored `logprob / length ** length_penalty` (length = its generated tokens); the search
stops when `beams` hypotheses are finished and none of the live beams can beat the worst of them,
or at max_tokens (live beams then finish as "length"). Children of one parent share its KV: the
first takes the parent's slot, the others get a copy in a slot a dropped beam left free.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

STOP_TAIL = 16  # tokens decoded to look for a stop string (longer than any stop string's tokens)


@dataclass
class Hypothesis:
    token_ids: list[int]
    logprob: float  # total over token_ids
    score: float  # logprob / len ** length_penalty
    finish_reason: str  # "stop" | "length"
    text: str = ""


def beam_search(llm, prompt: str | list[int], beams: int = 4, max_tokens: int = 256,
                length_penalty: float = 1.0, stop_token_ids: set[int] | None = None,
                stop: list[str] = ()) -> list[Hypothesis]:
    """The best `beams` hypotheses for `prompt`, best first."""
    if beams < 1 or max_tokens < 1:
        raise ValueError("beams and max_tokens must be >= 1")
    ids = list(prompt) if isinstance(prompt, list) else llm.encode(prompt)
    stops = llm.eos_ids if stop_token_ids is None else set(stop_token_ids)
    score = lambda lp, n: lp / n ** length_penalty
    with llm.lock:
        used = {s.slot for s in llm.seqs.values()}
        slots = [s for s in range(len(used) + beams) if s not in used][:beams]
        runner = llm.runner
        try:
            n = llm.reuse_prefix(slots[0], ids)
            logits = runner.prefill(slots[0], ids[n:], n)[None]
            live = [(slots[0], [], 0.0)]  # (slot, generated tokens, total logprob)
            done: list[Hypothesis] = []
            for step in range(1, max_tokens + 1):
                totals = torch.tensor([lp for _, _, lp in live])[:, None] + \
                    torch.log_softmax(logits.float().cpu(), dim=-1)
                nxt = []
                for lp, flat in _best(totals.view(-1), 2 * beams):
                    parent, tok = divmod(flat, totals.shape[1])
                    tokens = live[parent][1] + [tok]
                    if tok in stops or _completes(llm.tokenizer, tokens, stop):
                        done.append(Hypothesis(tokens, lp, score(lp, step), "stop"))
                    elif len(nxt) < beams:
                        nxt.append((parent, tokens, lp))
                done = sorted(done, key=lambda h: -h.score)[:beams]
                best_live = max(score(lp, step) for _, _, lp in nxt) if nxt else float("-inf")
                if step == max_tokens or (len(done) == beams and done[-1].score >= best_live):
                    break
                live = _reassign(runner, live, nxt, slots)
                logits = runner.decode([s for s, _, _ in live], [t[-1] for _, t, _ in live],
                                       [len(ids) + step - 1] * len(live))
            done += [Hypothesis(t, lp, score(lp, step), "length") for _, t, lp in nxt]
        finally:
            for s in slots:
                runner.release(s)
    best = sorted(done, key=lambda h: -h.score)[:beams]
    for h in best:
        h.text = llm.tokenizer.decode(h.token_ids, skip_special_tokens=True)
    return best


def _completes(tokenizer, tokens: list[int], stop: list[str]) -> bool:
    """Has the last token completed a stop string? Only the tail is decoded: one completed
    earlier would have finished the hypothesis then."""
    if not stop:
        return False
    tail = tokenizer.decode(tokens[-STOP_TAIL:])
    return any(s in tail for s in stop)


def _best(totals: torch.Tensor, k: int) -> list[tuple[float, int]]:
    """The k largest (value, index) pairs, ties broken by the lower index as argmax does: logits
    from a bf16 kernel tie often, and one beam must pick what greedy picks."""
    floor = totals.topk(min(k, totals.numel())).values[-1]
    index = (totals >= floor).nonzero()[:, 0]
    values = totals[index]
    order = values.sort(descending=True, stable=True).indices[:k]
    return list(zip(values[order].tolist(), index[order].tolist()))


def _reassign(runner, live, nxt, slots):
    """Slots for the next live beams: a parent's first child keeps its slot (and KV), each other
    child gets a copy of the parent's KV in a slot no child kept."""
    kept = {}
    out = []
    for parent, tokens, lp in nxt:
        slot = live[parent][0]
        if slot in kept.values():
            slot = None
        else:
            kept[parent] = slot
        out.append([slot, tokens, lp, parent])
    free = [s for s in slots if s not in kept.values()]
    for beam in out:
        if beam[0] is None:
            beam[0] = free.pop()
            runner.copy(live[beam[3]][0], beam[0])
    return [(s, t, lp) for s, t, lp, _ in out]
