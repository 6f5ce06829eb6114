"""Prefill attention in bf16, for quantized models on CPU.

On CPUs with bf16 dot products (AVX512-BF16, AMX) bf16 products run at ~4x the fp32 rate, while
torch's CPU flash-attention kernel computes in fp32 whatever it is fed. A prompt chunk appended
to a long cache (a search result injected into a 2,000-token thought, a follow-up turn) spends
most of its attention in QK^T and PV, so those run in bf16: in engine/cpu's flash-style kernel
where it is built (prefill.cpp: scores, an online softmax and the values in one pass, each key
read once for a tile of rows of all the query heads sharing it, no key past the tile's rows
read), else as two bf16 GEMMs around torch's softmax. Measured here, 200 queries over 2,200 keys
of the bundled model's shape, 2 threads: 7.1 ms a layer with torch's flash kernel, 4.6 ms with
the GEMMs and torch's softmax, 1.6 ms with the GEMMs and a native softmax, 1.4 ms with prefill.cpp
(0.36 -> 0.26 ms over 400 keys, where the GEMMs' masked half was wasted).

The quantized layers already round their activations (to bf16, or to int8 blocks in engine/cpu),
so this costs them little (perplexity of the bundled int4 model: +0.5 %, +0.5 % at 2,048 tokens);
the fp32 model keeps the exact kernel. Caches of int8 rows (engine/cpu/kv8.h, where the native
kernels serve the model) skip this module: Block.attend hands the chunk to prefill.cpp directly,
which writes its rows and attends over bf16 copies of them. AVX2 has no bf16 arithmetic: there
prefill.cpp multiplies fp32 copies of the rows (prefill_avx2.h), bf16 caches' included.
"""
from __future__ import annotations

import torch

from engine.cpu import ops

BF16 = torch.bfloat16
BLOCK_BYTES = 8 << 20  # torch's path: scores per block of query rows, bounded memory at any length


def pays(device: torch.device) -> bool:
    """bf16 attention beats the fp32 kernel where the CPU multiplies bf16 natively, and where
    engine/cpu's kernels serve the model: prefill.cpp is what writes int8 KV rows, which decode
    reads at a quarter of fp32's bytes. On AVX2 (fp32 products there: prefill_avx2.h), measured
    with the bundled int4 model at 2,000 tokens of context against torch's fp32 attention and KV:
    decode 108 -> 180 tok/s, the prompt's prefill 3.0 -> 2.6 s. Elsewhere (no kernels built)
    oneDNN would emulate bf16 GEMMs: fp32 stays."""
    return device.type == "cpu" and (torch.cpu._is_avx512_bf16_supported()
                                     or torch.cpu._is_amx_tile_supported()
                                     or ops.library() is not None)


def prefill(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, start: int) -> torch.Tensor:
    """Causal attention of q [B, H, T, D], the positions start..start+T-1, over k and v
    [B, KV, start+T, D] (H a multiple of KV); [B, H, T, D] in q's dtype."""
    B, H, T, D = q.shape
    if ops.library() is not None and D in (64, 128, 256):
        kb, vb = k.to(BF16), v.to(BF16)
        if kb.stride() != vb.stride():
            kb, vb = kb.contiguous(), vb.contiguous()
        y = ops.prefill_attention(q.float(), kb, vb, start)  # [B, T, H, D]: no copy for the caller
        return y.transpose(1, 2).to(q.dtype)
    KV, n = k.shape[1], k.shape[2]
    g = H // KV
    # query heads sharing a KV head become rows of one matrix: one GEMM per KV head, K not repeated
    qg = (q * D ** -0.5).to(BF16).reshape(B, KV, g * T, D)
    kt, vb = k.to(BF16).transpose(-1, -2), v.to(BF16)
    t = torch.arange(T, device=q.device)
    hidden = (t[None, :] > t[:, None]).repeat(g, 1)  # row j*T + t sees keys to start + t
    rows = max(16, BLOCK_BYTES // (B * KV * n * 2))
    out = []
    for r in range(0, g * T, rows):
        s = qg[:, :, r:r + rows] @ kt
        s[..., start:].masked_fill_(hidden[r:r + rows], float("-inf"))
        out.append(torch.softmax(s, -1) @ vb)
    o = out[0] if len(out) == 1 else torch.cat(out, 2)
    return o.view(B, H, T, D).to(q.dtype)
