"""CUDA graphs for decode steps: a step of a small model is dozens of tiny kernels whose launch
cost dwarfs their work, and a graph replays them all with one launch.

One graph per batch size, captured on first use over the whole cache capacity (the masked general
path of the forward, so positions and lengths are data, not shapes) and replayed with the step's
tokens and positions copied into its static inputs. Growing the cache reallocates it, which drops
every graph. A capture that fails (an op that can't be captured, out of memory) turns graphs off
and decoding goes on eagerly.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import torch


@dataclass
class Graph:
    graph: object
    tokens: torch.Tensor
    pos: torch.Tensor
    logits: torch.Tensor


class DecodeGraphs:
    def __init__(self, model):
        self.model = model
        self.graphs: dict[int, Graph] = {}
        self.pool = None
        self.failed = False

    def clear(self) -> None:
        self.graphs.clear()

    def run(self, tokens: torch.Tensor, pos: torch.Tensor, k: torch.Tensor, v: torch.Tensor
            ) -> torch.Tensor:
        """Logits [B, V] for tokens/pos [B, 1] over the caches' rows 0..B-1 (full capacity);
        k, v: [layers, slots, kv_heads, capacity, head_dim]."""
        B = tokens.shape[0]
        views = k[:, :B], v[:, :B]
        if self.failed:
            return self.model(tokens, pos, *views)
        g = self.graphs.get(B)
        if g is None:
            try:
                g = self.graphs[B] = self._capture(tokens, pos, views)
            except RuntimeError as err:  # run eagerly from now on
                print(f"sikao: CUDA graphs off ({str(err).splitlines()[0]})", file=sys.stderr)
                self.failed, self.graphs = True, {}
                return self.model(tokens, pos, *views)
        g.tokens.copy_(tokens)
        g.pos.copy_(pos)
        g.graph.replay()
        return g.logits.clone()

    def _capture(self, tokens, pos, views) -> Graph:
        tokens, pos = tokens.clone(), pos.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up: lazy inits and allocator state off the graph;
            for _ in range(2):  # it computes this very step, so its cache writes are the real ones
                self.model(tokens, pos, *views)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        self.pool = self.pool or torch.cuda.graph_pool_handle()
        with torch.cuda.graph(graph, pool=self.pool):
            logits = self.model(tokens, pos, *views)
        return Graph(graph, tokens, pos, logits)
