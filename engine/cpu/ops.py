"""The native kernels as torch functions, and the weight layouts they read.

Each op is also a torch custom op (sikao::…) so a compiled decode step calls it as one opaque
node; eager code calls the ctypes function directly, which skips the custom-op dispatch (~10 µs,
paid 120 times a step).
"""
from __future__ import annotations

import torch
from torch import Tensor

from engine.cpu.build import library

GROUP = 32  # matmul.cpp's activation block and int4 group
KV_DTYPES = (torch.float32, torch.bfloat16, torch.uint8)  # caches the attention kernels read


def kv_width(head_dim: int, dtype: torch.dtype) -> int:
    """A cached key's or value's last dim: an int8 row (uint8) carries its fp32 scale (kv8.h)."""
    return head_dim + 4 if dtype == torch.uint8 else head_dim


def fits(n: int, k: int) -> bool:
    """Can the kernels take an [n, k] weight? (16-column tiles, 32-wide blocks)"""
    return library() is not None and n % 16 == 0 and k % GROUP == 0


def attention_fits(like: Tensor, head_dim: int) -> bool:
    """Can decode_attention serve a model whose weights are like `like`? (fp32 on this CPU)"""
    return (like.device.type == "cpu" and like.dtype == torch.float32 and head_dim in (64, 128, 256)
            and library() is not None)


def pack_int4(q: Tensor, scales_zeros: Tensor) -> tuple[Tensor, Tensor]:
    """q [N, K] in 0..15 and scales_zeros [K/32, N, 2] bf16 (torch's int4 layout) → the kernel's
    [N/16, K/32, 4, 64] nibbles (byte 4i+j of chunk c: column i's k = 8c+j low, 8c+4+j high) and
    [N/16, K/32, 2, 16] bf16 scales and zeros."""
    n, k = q.shape
    g = k // GROUP
    t = q.to(torch.uint8).view(n // 16, 16, g, 4, 2, 4).permute(0, 2, 3, 1, 5, 4)
    w = (t[..., 0] | t[..., 1] << 4).contiguous().view(n // 16, g, 4, 64)
    sz = scales_zeros.view(g, n // 16, 16, 2).permute(1, 0, 3, 2).contiguous()
    return w, sz


def unpack_int4(w: Tensor) -> Tensor:
    """pack_int4's nibbles back to q [N, K]."""
    cb, g = w.shape[:2]
    t = w.view(cb, g, 4, 16, 4)
    t = torch.stack([t & 15, t >> 4], dim=-1)  # [cb, g, c, i, j, h]
    return t.permute(0, 3, 1, 2, 5, 4).reshape(cb * 16, g * GROUP)


def pack_int8(q: Tensor) -> Tensor:
    """q [N, K] int8 → [N/16, K/32, 8, 64] bytes q + 128 (byte 4i+j of chunk c: column i's k = 4c+j)."""
    n, k = q.shape
    t = q.view(torch.uint8) ^ 0x80
    return t.view(n // 16, 16, k // GROUP, 8, 4).permute(0, 2, 3, 1, 4).contiguous()


def int8_rows(w: Tensor, ids: Tensor) -> Tensor:
    """Rows `ids` of pack_int8's weight as int8 [len(ids), K] (an embedding lookup)."""
    rows = w.view(w.shape[0], w.shape[1], 8, 16, 4)[ids // 16, :, :, ids % 16]
    return (rows.reshape(*ids.shape, -1) ^ 0x80).view(torch.int8)


def _mm(fn, x: Tensor, w: Tensor, aux: Tensor, glu: bool) -> Tensor:
    x2 = x.reshape(-1, x.shape[-1]).float().contiguous()
    n = w.shape[0] * 16
    y = torch.empty(x2.shape[0], n // 2 if glu else n)
    fn(x2.data_ptr(), x2.shape[0], x2.shape[1], w.data_ptr(), aux.data_ptr(), n, y.data_ptr(),
       int(glu), torch.get_num_threads())
    return y.view(*x.shape[:-1], y.shape[-1]).to(x.dtype)


def _int4(x: Tensor, w: Tensor, sz: Tensor, glu: bool = False) -> Tensor:
    return _mm(library().sikao_int4_mm, x, w, sz, glu)


def _int8(x: Tensor, w: Tensor, scales: Tensor, glu: bool = False) -> Tensor:
    return _mm(library().sikao_int8_mm, x, w, scales, glu)


def int4_mm(x: Tensor, w: Tensor, sz: Tensor, glu: bool = False) -> Tensor:
    """x [..., K] @ the packed int4 weight^T → [..., N], in x's dtype. `glu`: the weight's rows
    are a gate and an up projection, and the result silu(gate) * up [..., N / 2]."""
    if torch.compiler.is_compiling():
        return torch.ops.sikao.int4_mm(x, w, sz, glu)
    return _int4(x, w, sz, glu)


def int8_mm(x: Tensor, w: Tensor, scales: Tensor, glu: bool = False) -> Tensor:
    """x [..., K] @ the packed int8 weight^T, times fp32 per-column scales → [..., N] (`glu`: as
    int4_mm's)."""
    if torch.compiler.is_compiling():
        return torch.ops.sikao.int8_mm(x, w, scales, glu)
    return _int8(x, w, scales, glu)


def decode_attention(q: Tensor, k: Tensor, v: Tensor, lens: Tensor) -> Tensor:
    """One query per row: q [B, H, D] fp32 over the first lens[b] (int32) positions of row b of
    the caches k, v [B, KV, n, D] (fp32, bf16, or uint8: int8 rows of D + 4 bytes, kv8.h; views
    with a contiguous last dim) → [B, H, D]."""
    if torch.compiler.is_compiling():
        return torch.ops.sikao.decode_attention(q, k, v, lens)
    return _decode_attention(q, k, v, lens)


def _decode_attention(q: Tensor, k: Tensor, v: Tensor, lens: Tensor) -> Tensor:
    return _decode(q, k, v, lens, None, None)


def decode_step(q: Tensor, k: Tensor, v: Tensor, kc: Tensor, vc: Tensor, lens: Tensor,
                share: Tensor | None = None) -> Tensor:
    """decode_attention after writing this step's k, v [B, KV, D] fp32 at position lens[b] - 1
    of the caches kc, vc: one call instead of two cache writes, copies and the attention (eager
    steps; a compiled one writes its caches itself). `share` (int32 [2, B]): row b reads its
    first share[1, b] keys and values from row share[0, b] of the caches, which must hold the same
    ones there (forked branches then read their common prefix once, not once a branch)."""
    if k.stride() != v.stride() and k.shape[0] > 1:  # (a size-1 dim's stride is arbitrary)
        k, v = k.contiguous(), v.contiguous()  # q/k normed apart from v (qwen3): one row stride
    D = k.shape[-1]
    assert k.dtype == v.dtype == torch.float32 and k.stride()[1:] == v.stride()[1:] == (D, 1)
    assert share is None or (share.dtype == torch.int32 and share.shape == (2, q.shape[0])
                             and share.is_contiguous())
    return _decode(q, kc, vc, lens, k, v, share)


def _decode(q: Tensor, k: Tensor, v: Tensor, lens: Tensor, kn: Tensor | None,
            vn: Tensor | None, share: Tensor | None = None) -> Tensor:
    B, H, D = q.shape
    assert k.stride() == v.stride() and k.stride(-1) == 1 and k.dtype == v.dtype
    assert q.dtype == torch.float32 and k.dtype in KV_DTYPES
    if q.stride(-1) != 1 or q.stride(-2) != D:
        q = q.contiguous()
    y = torch.empty(B, H, D)
    new = (kn.data_ptr(), vn.data_ptr(), kn.stride(0)) if kn is not None else (None, None, 0)
    library().sikao_decode_attention(q.data_ptr(), q.stride(0), *new, k.data_ptr(), v.data_ptr(),
                                     y.data_ptr(), B, H, k.shape[1], D, *k.stride()[:3],
                                     lens.data_ptr(), None if share is None else share.data_ptr(),
                                     k.element_size(), torch.get_num_threads())
    return y


def eager(x: Tensor, multiple: int) -> bool:
    """Can the elementwise kernels take x (fp32 on CPU, a last dim that is a multiple of
    `multiple`)? Not inside a compiled step, whose own fused code does better."""
    return (not torch.compiler.is_compiling() and x.dtype == torch.float32
            and x.device.type == "cpu" and x.shape[-1] % multiple == 0 and library() is not None)


def rms_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    """RMSNorm over x's last dim (a multiple of 16) with an fp32 weight."""
    x = x.contiguous()
    y = torch.empty_like(x)
    n = x.shape[-1]
    library().sikao_rms_norm(x.data_ptr(), weight.data_ptr(), y.data_ptr(), x.numel() // n, n, eps,
                             torch.get_num_threads())
    return y


def rope_(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """The rotary embedding in place over x [B, T, heads, D] (D a multiple of 32; heads packed
    within a position, positions evenly strided: a view of the qkv output will do) with cos and
    sin [B, T, 1, D] contiguous."""
    B, T, heads, D = x.shape
    stride = x.stride(1) if T > 1 else x.stride(0)  # a size-1 dim's stride is arbitrary
    assert x.stride(-1) == 1 and x.stride(-2) == D and (B == 1 or x.stride(0) == T * stride)
    assert cos.is_contiguous() and sin.is_contiguous() and cos.dtype == sin.dtype == torch.float32
    library().sikao_rope(x.data_ptr(), stride, B * T, heads, D, cos.data_ptr(),
                         sin.data_ptr(), torch.get_num_threads())
    return x


def row_stats(logits: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """Per row of fp32 logits [B, V]: (logsumexp, mean of the k largest, argmax)."""
    x = logits.contiguous()
    B, V = x.shape
    lse, top = torch.empty(B), torch.empty(B)
    arg = torch.empty(B, dtype=torch.long)
    library().sikao_row_stats(x.data_ptr(), B, V, k, lse.data_ptr(), top.data_ptr(),
                              arg.data_ptr(), torch.get_num_threads())
    return lse, top, arg


def nucleus(logits: Tensor, rows: Tensor, temperature: float, top_p: float, u: Tensor) -> Tensor:
    """For rows `rows` (long) of fp32 logits [B, V]: a token drawn from softmax(logits /
    temperature) within the row's top_p nucleus (top_p 1: the whole row), by inverse CDF at u
    (fp32, one a row)."""
    x = logits.contiguous()
    rows, u = rows.contiguous(), u.float().contiguous()
    out = torch.empty(len(rows), dtype=torch.long)
    library().sikao_nucleus(x.data_ptr(), rows.data_ptr(), len(rows), x.shape[1], temperature,
                            top_p, u.data_ptr(), out.data_ptr(), torch.get_num_threads())
    return out


def prefill_attention(q: Tensor, k: Tensor, v: Tensor, start: int, kn: Tensor | None = None,
                      vn: Tensor | None = None) -> Tensor:
    """Causal attention of q [B, H, T, D] fp32, the positions start..start+T-1, over the caches
    k, v [B, KV, >= start+T, D] (sharing strides, the last dim contiguous), query t seeing keys
    0..start+t → [B, T, H, D] fp32. D: 64, 128 or 256. bf16 caches hold the chunk's keys already;
    int8 rows (uint8, kv8.h) get them from kn, vn [B, T, KV, D] fp32, written here."""
    B, H, T, D = q.shape
    assert q.dtype == torch.float32 and q.stride(-1) == 1 and D in (64, 128, 256)
    assert k.dtype == v.dtype and k.stride() == v.stride() and k.stride(-1) == 1
    assert k.shape[2] >= start + T
    new = (None, None, 0, 0)
    if k.dtype == torch.uint8:
        assert kn.shape == vn.shape == (B, T, k.shape[1], D) and kn.dtype == torch.float32
        if kn.stride() != vn.stride() or kn.stride()[2:] != (D, 1):
            kn, vn = kn.contiguous(), vn.contiguous()
        new = (kn.data_ptr(), vn.data_ptr(), kn.stride(0), kn.stride(1))
    else:
        assert k.dtype == torch.bfloat16
    y = torch.empty(B, T, H, D)
    library().sikao_prefill_attention(q.data_ptr(), *q.stride()[:3], k.data_ptr(), v.data_ptr(),
                                      y.data_ptr(), B, T, H, k.shape[1], D, start,
                                      *k.stride()[:3], *new, k.element_size(),
                                      torch.get_num_threads())
    return y


# the same functions as custom ops, for compiled steps
_int4_op = torch.library.custom_op("sikao::int4_mm", _int4, mutates_args=())
_int8_op = torch.library.custom_op("sikao::int8_mm", _int8, mutates_args=())
_attention_op = torch.library.custom_op("sikao::decode_attention", _decode_attention,
                                        mutates_args=())


@_attention_op.register_fake
def _(q: Tensor, k: Tensor, v: Tensor, lens: Tensor) -> Tensor:
    return torch.empty_like(q)


@_int4_op.register_fake
@_int8_op.register_fake
def _(x: Tensor, w: Tensor, aux: Tensor, glu: bool = False) -> Tensor:
    return x.new_empty(*x.shape[:-1], w.shape[0] * 16 // (2 if glu else 1))
