"""Model runners: the hot path. Both keep one KV-cache slot per live sequence and expose the same
operations to the scheduler: prefill a slot, decode a batch of slots, copy a slot (fork), move a
slot (compaction after a drop), and read out / write back a slot's KV (the prefix cache).

`FastRunner` drives our own llama-family forward over a static KV cache (preallocated, written in
place, grown by doubling when a sequence outgrows it), its decode steps as one native call
(engine/cpu/step.py) where every layer runs on the native CPU kernels; `HFRunner` is the fallback
for every other architecture (HF modeling, one DynamicCache per slot, rows decoded one by one).
"""
from __future__ import annotations

import copy

import torch

from engine.cpu import ops
from engine.cpu.step import NativeStep
from engine.graphs import DecodeGraphs


class FastRunner:
    def __init__(self, model, device, chunk: int = 512, compile: bool = False,
                 cuda_graphs: bool = True, max_len: int | None = None):
        self.model, self.device, self.chunk = model, device, chunk
        self.max_len = max_len  # the most positions a sequence reaches: growth stops there
        # a compiled step writes its caches in torch ops, which int8 rows (native only) refuse
        self.dtype = (torch.bfloat16 if compile and model.kv_dtype == torch.uint8
                      else model.kv_dtype)
        a = model.a
        self.shape = (a.n_kv_heads, ops.kv_width(a.head_dim, self.dtype))
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None
        self.lens: list[int] = []  # tokens cached per slot
        # per slot: another slot whose first `shared` positions hold the same KV (a fork's
        # parent; itself and 0 when none). Eager native decode reads those from there, so
        # siblings read their common prefix once a step instead of once each.
        self.base: list[int] = []
        self.shared: list[int] = []
        self.prefilled = 0  # tokens run through prefill since start (what the prefix cache saves)
        # Compiling pays for decode (~35 % less per-token overhead on CPU); prefill runs eager.
        self.step = torch.compile(model, dynamic=True) if compile else model
        # eager on the CPU with every kernel native: the whole step is one call
        self.native = (NativeStep(model) if not compile and device.type == "cpu"
                       and NativeStep.fits(model) else None)
        self.graphs = DecodeGraphs(model) if cuda_graphs and device.type == "cuda" else None
        with torch.inference_mode():  # like every later growth: one kind of tensor to compile for
            self._alloc(1, 256)

    def _alloc(self, slots: int, length: int) -> None:
        """One tensor each for K and V, [layers, slots, kv_heads, length, width]: a step hands
        the model two views, not two per layer (fewer guards for a compiled step to check)."""
        n_kv, hd = self.shape
        old_k, old_v = self.k, self.v
        shape = (self.model.a.n_layers, slots, n_kv, length, hd)
        self.k = torch.zeros(shape, device=self.device, dtype=self.dtype)
        self.v = torch.zeros_like(self.k)
        if old_k is not None:
            s, L = min(slots, old_k.shape[1]), min(length, old_k.shape[3])
            self.k[:, :s, :, :L] = old_k[:, :s, :, :L]
            self.v[:, :s, :, :L] = old_v[:, :s, :, :L]
        self.base += range(len(self.lens), slots)
        self.shared += [0] * (slots - len(self.lens))
        self.lens += [0] * (slots - len(self.lens))
        self.model.reserve(length)
        if self.graphs:
            self.graphs.clear()

    def _ensure(self, slots: int, length: int) -> None:
        have_s, have_l = self.k.shape[1], self.k.shape[3]
        if slots > have_s or length > have_l:
            grow = lambda need, have: have if need <= have else max(need, 2 * have)
            # a length 256 past what a long prompt needs: the decode steps after it would
            # otherwise grow (copy) the whole cache again at once (44 ms at 1,600 tokens)
            room = have_l if length <= have_l else max(length + 256, 2 * have_l)
            if self.max_len:  # doubling past the context would only hold positions never used
                room = max(length, min(room, self.max_len + 2))
            self._alloc(grow(slots, have_s), room)

    def _views(self, rows: slice, n: int):
        # per-layer views: a compiled step then writes each in place (a view of the one big
        # tensor would be copied back whole after every step)
        return self.k[:, rows, :, :n].unbind(0), self.v[:, rows, :, :n].unbind(0)

    @torch.inference_mode()
    def prefill(self, slot: int, tokens: list[int], start: int) -> torch.Tensor:
        """Cache `tokens` at positions start.. of `slot`; logits [V] after the last one. Chunked:
        the activations and attention scores of a long prompt stay those of one chunk."""
        self._ensure(slot + 1, start + len(tokens) + 1)
        self._rewrite(slot, start)
        for i in range(0, len(tokens), self.chunk):
            part = tokens[i:i + self.chunk]
            s, e = start + i, start + i + len(part)
            t = torch.tensor([part], device=self.device)
            pos = torch.arange(s, e, device=self.device)[None]
            logits = self.model(t, pos, *self._views(slice(slot, slot + 1), e), start=s)
        self.lens[slot] = start + len(tokens)
        self.prefilled += len(tokens)
        return logits[0]

    @torch.inference_mode()
    def decode(self, slots: list[int], tokens: list[int], pos: list[int]) -> torch.Tensor:
        """One token for each given slot; logits [len(slots), V]. Runs the contiguous slot range
        0..max(slots): idle slots in between ride along at their own end position (their write
        lands past their valid length and is overwritten later), which is cheaper than gathering
        the caches of the active rows."""
        B = max(slots) + 1
        self._ensure(B, max(max(pos), max(self.lens[:B], default=0)) + 2)
        rows = torch.tensor(slots, device=self.device)
        if self.native is not None:
            logits = self.native(*self._batch(B, slots, tokens, pos), self.k, self.v,
                                 self._share(B))
        elif self.graphs is None and len(slots) == B and len(set(pos)) == 1:
            # every row active and at one length (forked branches): slices, no scatter or mask
            t = torch.empty(B, 1, dtype=torch.long, device=self.device)
            t[rows, 0] = torch.tensor(tokens, device=self.device)
            logits = self.step(t, torch.full((B, 1), pos[0], device=self.device),
                               *self._views(slice(0, B), pos[0] + 1), start=pos[0],
                               share=self._share(B))
        else:
            t, p = self._batch(B, slots, tokens, pos)
            n = max(p) + 1
            t = torch.tensor(t, device=self.device)[:, None]
            p = torch.tensor(p, device=self.device)[:, None]
            if self.graphs is not None:
                logits = self.graphs.run(t, p, self.k, self.v)
            else:
                logits = self.step(t, p, *self._views(slice(0, B), n), share=self._share(B))
        for s, q in zip(slots, pos):
            self.lens[s] = q + 1
        return logits if slots == list(range(B)) else logits[rows]

    def _batch(self, B: int, slots: list[int], tokens: list[int], pos: list[int]):
        """Tokens and positions of rows 0..B-1: the slots' own, and an idle row's last token's
        place (its write lands past its valid length and is overwritten later)."""
        t, p = [0] * B, list(self.lens[:B])
        for s, tok, q in zip(slots, tokens, pos):
            t[s], p[s] = tok, q
        return t, p

    def _share(self, B: int) -> torch.Tensor | None:
        """Rows 0..B-1's shared prefixes for the model (int32 [2, B]), or None: for the eager step
        only (the native decode attention reads them), and only from rows in the batch."""
        if self.step is not self.model or not any(self.shared[:B]):
            return None
        base = [s if s < B else b for b, s in enumerate(self.base[:B])]
        n = [m if s < B else 0 for m, s in zip(self.shared[:B], self.base[:B])]
        return torch.tensor([base, n], dtype=torch.int32)

    def _rewrite(self, slot: int, start: int) -> None:
        """Positions start.. of `slot` are about to change: shares of them end there."""
        for b, s in enumerate(self.base):
            if (s == slot or b == slot) and self.shared[b] > start:
                self.shared[b] = start
                if start == 0:
                    self.base[b] = b

    @torch.inference_mode()  # the caches grown inside prefill/decode are inference tensors
    def copy(self, src: int, dst: int) -> None:
        n = self.lens[src]
        self._ensure(dst + 1, n + 1)
        self._rewrite(dst, 0)
        self.k[:, dst, :, :n] = self.k[:, src, :, :n]
        self.v[:, dst, :, :n] = self.v[:, src, :, :n]
        self.lens[dst] = n
        self.base[dst], self.shared[dst] = src, n

    @torch.inference_mode()
    def move(self, src: int, dst: int) -> None:
        """src's sequence now lives in dst, whose own has ended. Shares follow the data: rows that
        read src's prefix read it in dst, rows that read dst's old one read as much of it as src
        held too (a parent dropped, its last branch moved in: the other branches keep reading)."""
        n = self.lens[src]
        self.k[:, dst, :, :n] = self.k[:, src, :, :n]
        self.v[:, dst, :, :n] = self.v[:, src, :, :n]
        self.lens[dst], self.lens[src] = n, 0
        held = self.shared[src] if self.base[src] == dst else 0  # of dst's old prefix, in src
        for b, s in enumerate(self.base):
            if b in (src, dst) or s not in (src, dst):
                continue
            m = self.shared[b] if s == src else min(self.shared[b], held)
            self.base[b], self.shared[b] = (dst, m) if m else (b, 0)
        own = self.base[src] in (src, dst)
        self.base[dst], self.shared[dst] = (dst, 0) if own else (self.base[src], self.shared[src])
        self.base[src], self.shared[src] = src, 0

    def release(self, slot: int) -> None:
        self.lens[slot] = 0
        self._rewrite(slot, 0)

    @torch.inference_mode()
    def read(self, slot: int, n: int) -> torch.Tensor:
        """A copy of the slot's first n positions of KV: [2, layers, kv_heads, n, width]."""
        return torch.stack([self.k[:, slot, :, :n], self.v[:, slot, :, :n]])

    @torch.inference_mode()
    def write(self, slot: int, kv: torch.Tensor, n: int) -> None:
        """Put the first n positions of `kv` (from read) into the slot, which then holds n."""
        self._ensure(slot + 1, n + 1)
        self._rewrite(slot, 0)
        self.k[:, slot, :, :n] = kv[0, :, :, :n]
        self.v[:, slot, :, :n] = kv[1, :, :, :n]
        self.lens[slot] = n


class HFRunner:
    def __init__(self, hf_model, device):
        self.model, self.device = hf_model, device
        self.caches: dict[int, object] = {}
        self.prefilled = 0

    @torch.inference_mode()
    def _forward(self, slot: int, tokens: list[int], start: int) -> torch.Tensor:
        from transformers import DynamicCache

        cache = self.caches.setdefault(slot, DynamicCache(config=self.model.config))
        ids = torch.tensor([tokens], device=self.device)
        pos = torch.arange(start, start + len(tokens), device=self.device)[None]
        out = self.model(input_ids=ids, position_ids=pos, past_key_values=cache, use_cache=True,
                         logits_to_keep=1)
        return out.logits[0, -1].float()

    def prefill(self, slot: int, tokens: list[int], start: int) -> torch.Tensor:
        if start == 0:
            self.caches.pop(slot, None)
        self.prefilled += len(tokens)
        return self._forward(slot, tokens, start)

    def decode(self, slots: list[int], tokens: list[int], pos: list[int]) -> torch.Tensor:
        return torch.stack([self._forward(s, [t], p) for s, t, p in zip(slots, tokens, pos)])

    def copy(self, src: int, dst: int) -> None:
        self.caches[dst] = copy.deepcopy(self.caches[src])

    def move(self, src: int, dst: int) -> None:
        self.caches[dst] = self.caches.pop(src)

    def release(self, slot: int) -> None:
        self.caches.pop(slot, None)
