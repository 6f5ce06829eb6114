"""The scheduler: live sequences over one model runner.

Each `step()` prefills what is pending (new prompts, appended text), decodes one token for every
other running sequence in one batch, samples all rows together and advances each sequence
(detokenize, stop strings, stop tokens, budgets). `fork`, `drop` and `append` are the operations
the reasoning layer builds branches and search-in-the-thought on.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from itertools import count, islice
from typing import Iterator

import torch

from engine.beam import beam_search
from engine.config import EngineConfig
from engine.detok import Detokenizer, StopMatcher
from engine.errors import PromptTooLong
from engine.loader import load
from engine.prefix import PrefixCache
from engine.runner import FastRunner, HFRunner
from engine.sampling import SamplingParams, sample
from engine.sequence import FINISHED, RUNNING, Sequence, StepOutput, make_generator


@dataclass
class Output:
    text: str
    token_ids: list[int]
    finish_reason: str | None
    prompt_tokens: int
    logprobs: list[float]
    confidences: list[float]


class LLM:
    def __init__(self, config: EngineConfig | None = None, progress=None, **overrides):
        self.config = config or EngineConfig(**overrides)
        loaded = load(self.config, progress)
        self.tokenizer, self.device, self.dtype = loaded.tokenizer, loaded.device, loaded.dtype
        self.name, self.path, self.quant = loaded.name, loaded.path, loaded.quant
        self.model, self.fast, self.eos_ids = loaded.model, loaded.fast, loaded.eos_ids
        self.max_model_len = self.config.max_model_len or loaded.max_len
        if self.fast:
            self.runner = FastRunner(self.model, self.device, compile=self.config.compile,
                                     cuda_graphs=self.config.cuda_graphs,
                                     max_len=self.max_model_len)
            self.prefix = PrefixCache(self.config.prefix_cache_mb << 20)
        else:
            self.prefix = None
            self.runner = HFRunner(self.model, self.device)
        self.seqs: dict[int, Sequence] = {}
        self._ids = count()
        self.lock = threading.RLock()  # the server adds requests while another thread steps

    # -- sequences ---------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def add(self, prompt: str | list[int], params: SamplingParams | None = None) -> int:
        params = params or SamplingParams()
        ids = list(prompt) if isinstance(prompt, list) else self.encode(prompt)
        if not ids:
            raise ValueError("empty prompt")
        self._check_len(len(ids))
        with self.lock:
            slot = self._free_slots(1)[0]
            seq = Sequence(id=next(self._ids), params=params, token_ids=ids, slot=slot,
                           detok=Detokenizer(self.tokenizer, ids), stops=StopMatcher(params.stop),
                           generator=make_generator(params.seed, self.device),
                           pending=ids[self.reuse_prefix(slot, ids):], n_prompt=len(ids))
            self.seqs[seq.id] = seq
            return seq.id

    def reuse_prefix(self, slot: int, ids: list[int]) -> int:
        """Put the longest cached prefix of `ids` into `slot`; how many tokens it holds now. The
        last token is never taken from the cache: its logits are needed."""
        if self.prefix is None:
            return 0
        entry, n = self.prefix.match(ids, len(ids) - 1)
        if n:
            self.runner.write(slot, entry.kv, n)
            self.prefix.hits += n
        return n

    def seq(self, sid: int) -> Sequence:
        return self.seqs[sid]

    def has_running(self) -> bool:
        return any(s.status == RUNNING for s in self.seqs.values())

    def fork(self, sid: int, n: int, params: SamplingParams | None = None) -> list[int]:
        """n new sequences continuing from sid's current state (sid goes on too). The shared prefix
        is prefilled once, then its KV is copied; a seeded parent gives children seed+1, seed+2…"""
        with self.lock:
            parent = self.seqs[sid]
            if len(parent.pending) > 1:
                self.runner.prefill(parent.slot, parent.pending[:-1], parent.cached)
                parent.pending = parent.pending[-1:]
            slots = self._free_slots(n)
            for slot in reversed(slots):  # the highest first: the caches grow once for all
                self.runner.copy(parent.slot, slot)
            kids = []
            for i, slot in enumerate(slots):
                p = params or parent.params
                if params is None and p.seed is not None:
                    p = SamplingParams(**{**vars(p), "seed": p.seed + i + 1})
                kid = Sequence(**{**vars(parent), "id": next(self._ids), "params": p, "slot": slot,
                                  "detok": parent.detok.copy(), "stops": StopMatcher(p.stop),
                                  "generator": make_generator(p.seed, self.device)})
                for name in ("token_ids", "pending", "output_ids", "logprobs", "confidences"):
                    setattr(kid, name, list(getattr(parent, name)))
                self.seqs[kid.id] = kid
                kids.append(kid.id)
            return kids

    def drop(self, sid: int) -> None:
        """Stop and forget a sequence now; its KV slot is reused at once."""
        with self.lock:
            seq = self.seqs.pop(sid, None)
            if seq is None:
                return
            if self.prefix is not None and seq.cached:
                self.prefix.add(seq.token_ids[:seq.cached],
                                lambda n: self.runner.read(seq.slot, n))
            last = max((s.slot for s in self.seqs.values()), default=-1)
            if last > seq.slot:  # keep occupied slots contiguous: the decode batch is 0..max slot
                mover = next(s for s in self.seqs.values() if s.slot == last)
                self.runner.move(last, seq.slot)
                mover.slot = seq.slot
            else:
                self.runner.release(seq.slot)

    def append(self, sid: int, text: str | list[int], params: SamplingParams | None = None) -> None:
        """Add text to a sequence (e.g. a tool result) and let it run again; only the new tokens
        are prefilled. A trailing EOS / stop token is removed first: it ended the turn, it is not
        content the model should see."""
        ids = list(text) if isinstance(text, list) else self.encode(text)
        with self.lock:
            seq = self.seqs[sid]
            if seq.ended_by_token and seq.pending:
                seq.token_ids.pop()
                seq.pending.pop()
            self._check_len(len(seq.token_ids) + len(ids))
            seq.token_ids += ids
            seq.pending += ids
            if params is not None:
                seq.params, seq.generator = params, make_generator(params.seed, self.device)
            seq.detok = Detokenizer(self.tokenizer, seq.token_ids)
            seq.stops = StopMatcher(seq.params.stop)
            seq.generated, seq.status, seq.finish_reason, seq.ended_by_token = 0, RUNNING, None, False

    # -- the loop ----------------------------------------------------------------------------
    def step(self) -> list[StepOutput]:
        with self.lock:
            running = [s for s in self.seqs.values() if s.status == RUNNING]
            if not running:
                return []
            prefill = [s for s in running if len(s.pending) != 1]
            decode = [s for s in running if len(s.pending) == 1]
            rows = [self.runner.prefill(s.slot, s.pending, s.cached)[None] for s in prefill]
            if decode:  # [B, V] as the runner returns it: no copy of 8 x 49k logits a step
                rows.append(self.runner.decode([s.slot for s in decode],
                                               [s.pending[0] for s in decode],
                                               [s.cached for s in decode]))
            batch = prefill + decode
            out = sample(rows[0] if len(rows) == 1 else torch.cat(rows), [s.params for s in batch],
                         [s.generator for s in batch], [s.token_ids for s in batch])
            tokens, lps, confs = out.token_ids.tolist(), out.logprobs.tolist(), out.confidence.tolist()
            return [self._advance(s, t, lp, c) for s, t, lp, c in zip(batch, tokens, lps, confs)]

    def _advance(self, seq: Sequence, tok: int, logprob: float, conf: float) -> StepOutput:
        seq.token_ids.append(tok)
        seq.pending = [tok]
        seq.output_ids.append(tok)
        seq.logprobs.append(logprob)
        seq.confidences.append(conf)
        seq.generated += 1
        p = seq.params
        out = StepOutput(seq.id, tok, "", logprob, conf)
        if tok in p.stop_token_ids or (tok in self.eos_ids and not p.ignore_eos):
            seq.ended_by_token = True
            out.text = seq.stops.flush()
            self._finish(seq, out, "stop")
        else:
            out.text, out.stop_str, _ = seq.stops.feed(seq.detok.add(tok))
            if out.stop_str is not None:
                out.stop_pos = len(seq.output_text) + len(out.text)
                self._finish(seq, out, "stop")
            elif seq.generated >= p.max_tokens or len(seq.token_ids) >= self.max_model_len:
                out.text += seq.stops.flush()
                self._finish(seq, out, "length")
        seq.output_text += out.text
        return out

    @staticmethod
    def _finish(seq: Sequence, out: StepOutput, reason: str) -> None:
        seq.status, seq.finish_reason = FINISHED, reason
        out.finished, out.finish_reason = True, reason

    # -- conveniences ------------------------------------------------------------------------
    def stream(self, prompt: str | list[int], params: SamplingParams | None = None
               ) -> Iterator[StepOutput]:
        sid = self.add(prompt, params)
        try:
            while not self.seqs[sid].finished:
                for out in self.step():
                    if out.seq_id == sid:
                        yield out
        finally:
            self.drop(sid)

    def generate(self, prompts: list[str | list[int]], params: SamplingParams | list[SamplingParams]
                 ) -> list[Output]:
        plist = params if isinstance(params, list) else [params] * len(prompts)
        sids = [self.add(p, sp) for p, sp in zip(prompts, plist)]
        try:
            while any(not self.seqs[s].finished for s in sids):
                self.step()
            return [_output(self.seqs[s]) for s in sids]
        finally:
            for s in sids:
                self.drop(s)

    def beam_search(self, prompt: str | list[int], beams: int = 4, max_tokens: int = 256,
                    length_penalty: float = 1.0, stop_token_ids: set[int] | None = None,
                    stop: list[str] = ()):
        """The best `beams` continuations by beam search, best first (engine/beam.py)."""
        return beam_search(self, prompt, beams, max_tokens, length_penalty, stop_token_ids, stop)

    def _free_slots(self, n: int) -> list[int]:
        used = {s.slot for s in self.seqs.values()}
        return list(islice((i for i in count() if i not in used), n))

    def _check_len(self, n: int) -> None:
        if n >= self.max_model_len:
            raise PromptTooLong(f"the prompt is {n} tokens but the model's context is "
                                f"{self.max_model_len} tokens")


def _output(seq: Sequence) -> Output:
    return Output(seq.output_text, list(seq.output_ids), seq.finish_reason, seq.n_prompt,
                  list(seq.logprobs), list(seq.confidences))

