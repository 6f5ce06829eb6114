"""Prefix cache: the KV of sequences that were dropped, kept for later prompts that begin with the
same tokens (the next chat turn resends the conversation so far; a search resumption or a
re-asked question repeats a long prompt). A hit copies the shared positions into the new
sequence's slot and only the rest of the prompt is prefilled.

Entries are whole token sequences with their KV, found through chained hashes of their 32-token
blocks (block i's hash covers every token before it too, so one dict lookup per block walks the
longest shared prefix), then extended token by token into the last partial block. The cache is
bounded in bytes and evicts the least recently used entry; an entry that is a prefix of a newer
one is superseded by it.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from itertools import count
from typing import Callable

import torch

BLOCK = 32


@dataclass
class Entry:
    tokens: list[int]
    kv: torch.Tensor  # the runner's read() layout, positions 0..len(tokens)-1
    hashes: list[int]


class PrefixCache:
    def __init__(self, budget_bytes: int, block: int = BLOCK):
        self.budget, self.block = budget_bytes, block
        self.entries: OrderedDict[int, Entry] = OrderedDict()  # least recently used first
        self.index: dict[int, set[int]] = {}  # block hash -> entries holding that prefix
        self.used = 0
        self.hits = 0  # tokens served from the cache (for stats and tests)
        self.per_token = 0  # KV bytes a position, known after the first read
        self._ids = count()

    def hashes(self, ids: list[int]) -> list[int]:
        out, h = [], 0
        for i in range(self.block, len(ids) + 1, self.block):
            h = hash((h, tuple(ids[i - self.block:i])))
            out.append(h)
        return out

    def match(self, ids: list[int], limit: int | None = None) -> tuple[Entry | None, int]:
        """The entry sharing the longest prefix with `ids`, and that length (at most `limit`)."""
        limit = len(ids) if limit is None else limit
        holders = None
        for h in self.hashes(ids[:limit]):
            if h not in self.index:
                break
            holders = self.index[h]
        found, n = None, 0
        for eid in holders if holders is not None else list(self.entries):  # < 1 block: scan
            m = _common(self.entries[eid].tokens, ids, limit)
            if m > n:
                found, n = eid, m
        if found is None:
            return None, 0
        self.entries.move_to_end(found)
        return self.entries[found], n

    def add(self, ids: list[int], read: Callable[[int], torch.Tensor]) -> None:
        """Keep the KV of `ids` (read(n) copies its first n positions) unless held already."""
        if not ids or self.budget <= 0:
            return
        entry, n = self.match(ids)
        if entry is not None and n == len(ids):
            return  # a held entry already covers it (match made it the most recent)
        if len(ids) * self.per_token > self.budget:
            return  # it could never fit: don't copy it
        kv = read(len(ids))
        self.per_token = kv.numel() * kv.element_size() // len(ids)
        if kv.numel() * kv.element_size() > self.budget:
            return
        if entry is not None and n == len(entry.tokens):  # the new sequence extends it
            self._remove(next(e for e, v in self.entries.items() if v is entry))
        eid = next(self._ids)
        self.entries[eid] = Entry(list(ids), kv, self.hashes(ids))
        for h in self.entries[eid].hashes:
            self.index.setdefault(h, set()).add(eid)
        self.used += kv.numel() * kv.element_size()
        while self.used > self.budget:
            self._remove(next(iter(self.entries)))

    def clear(self) -> None:
        self.entries.clear()
        self.index.clear()
        self.used = 0

    def _remove(self, eid: int) -> None:
        entry = self.entries.pop(eid)
        for h in entry.hashes:
            holders = self.index[h]
            holders.discard(eid)
            if not holders:
                del self.index[h]
        self.used -= entry.kv.numel() * entry.kv.element_size()


def _common(a: list[int], b: list[int], limit: int) -> int:
    n = min(len(a), len(b), limit)
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n  # a[:lo] == b[:lo], a[:hi] != b[:hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid
    return lo
