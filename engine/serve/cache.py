"""An LRU cache of finished responses to deterministic requests (greedy decoding, same prompt and
parameters): a repeat is answered from memory, replaying the same outputs."""
from __future__ import annotations

from collections import OrderedDict


class LRU:
    def __init__(self, size: int):
        self.size = size
        self.items: OrderedDict = OrderedDict()

    def get(self, key):
        if key is None or key not in self.items:
            return None
        self.items.move_to_end(key)
        return self.items[key]

    def put(self, key, value) -> None:
        if key is None or self.size <= 0:
            return
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)
