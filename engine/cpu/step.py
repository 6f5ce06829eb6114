"""The eager decode step as one native call (step.cpp): for a model whose every linear layer runs
on the native int4/int8 kernels and whose decode attention is native. The per-layer Python of
Transformer.forward (module calls, views, ~10 torch ops and 7 ctypes calls a layer) cost more
than the kernels themselves at a few rows."""
from __future__ import annotations

import ctypes

import torch
from torch import Tensor

from engine.cpu.build import library
from engine.quant import Int4Linear, Int8Embedding, Int8Linear

P, I, L, F = ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_float


class _Linear(ctypes.Structure):
    _fields_ = [("w", P), ("aux", P), ("bias", P), ("n", I), ("k", I), ("int8", I)]


class _Layer(ctypes.Structure):
    _fields_ = [("attn_norm", P), ("q_norm", P), ("k_norm", P), ("mlp_norm", P),
                ("qkv", _Linear), ("o", _Linear), ("gate_up", _Linear), ("down", _Linear)]


class _Embed(ctypes.Structure):
    _fields_ = [("w", P), ("scales", P), ("packed", I)]


class _Model(ctypes.Structure):
    _fields_ = [("layers", I), ("heads", I), ("kv_heads", I), ("head_dim", I), ("dim", I),
                ("hidden", I), ("eps", F), ("layer", ctypes.POINTER(_Layer)), ("norm", P),
                ("head", _Linear), ("embed", _Embed)]


def _linear(m) -> _Linear:
    int8 = isinstance(m, Int8Linear)
    aux = m.kernel_scales if int8 else m.scales_zeros
    n = m.weight.shape[0] * 16
    k = m.weight.shape[1] * 32
    return _Linear(m.weight.data_ptr(), aux.data_ptr(), _ptr(m.bias), n, k, int(int8))


def _native(m) -> bool:
    return isinstance(m, (Int4Linear, Int8Linear)) and m.kernel == "native"


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


class NativeStep:
    """`step(tokens, pos, k, v, share)` → logits [B, V]: one token for each of B rows of the
    caches k, v [layers, rows, kv_heads, n, width], row b's at position pos[b] (written there,
    attending over 0..pos[b]). `share` as ops.decode_step's."""

    def __init__(self, model):
        self.model = model
        a = model.a
        self.layers = (_Layer * a.n_layers)(*[
            _Layer(b.attn_norm.weight.data_ptr(),
                   _ptr(b.q_norm.weight) if a.qk_norm else None,
                   _ptr(b.k_norm.weight) if a.qk_norm else None,
                   b.mlp_norm.weight.data_ptr(),
                   _linear(b.qkv), _linear(b.o), _linear(b.gate_up), _linear(b.down))
            for b in model.layers])
        table = model.embed.table  # int8 rows: the tied head's, packed, or a plain table
        embed = _Embed(table.weight.data_ptr(), table.scales.data_ptr(), int(_native(table)))
        self.spec = _Model(a.n_layers, a.n_heads, a.n_kv_heads, a.head_dim, a.dim, a.hidden,
                           a.eps, self.layers, model.norm.weight.data_ptr(),
                           _linear(model.lm_head), embed)
        self.fn = library().sikao_decode_step

    @staticmethod
    def fits(model) -> bool:
        """Every piece native: the decode attention, fp32 activations on the CPU, each linear
        layer on the int4/int8 kernels (the gate-up without a bias, as its SwiGLU needs), and
        the embedding int8 rows."""
        if not (model.native_decode and library() is not None):
            return False
        linears = [m for b in model.layers for m in (b.qkv, b.o, b.gate_up, b.down)]
        return (all(map(_native, [*linears, model.lm_head]))
                and all(b.gate_up.bias is None for b in model.layers)
                and model.norm.weight.dtype == torch.float32
                and isinstance(model.embed, Int8Embedding)
                and model.embed.table.scales.dtype == torch.float32)

    @torch.inference_mode()
    def __call__(self, tokens: list[int], pos: list[int], k: Tensor, v: Tensor,
                 share: Tensor | None) -> Tensor:
        m = self.model
        B = len(tokens)
        # read unchecked in C++: ids within the table, positions within the rope tables (the
        # runner reserves them for its caches)
        assert 0 <= min(tokens) and max(tokens) < m.a.vocab and 0 <= min(pos)
        assert max(pos) < m.cos.shape[0] and m.cos.is_contiguous() and m.sin.is_contiguous()
        assert k.stride() == v.stride() and k.stride(-1) == 1 and k.dtype == v.dtype
        rows = torch.tensor([tokens, pos], dtype=torch.int32)
        logits = torch.empty(B, m.a.vocab)
        self.fn(ctypes.byref(self.spec), rows[0].data_ptr(), rows[1].data_ptr(), B,
                m.cos.data_ptr(), m.sin.data_ptr(), k.data_ptr(), v.data_ptr(), *k.stride()[:4],
                _ptr(share), k.element_size(), logits.data_ptr(),
                torch.get_num_threads())
        return logits
