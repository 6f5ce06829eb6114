"""Our own forward for the llama family (llama, qwen2, qwen3): SmolLM2, DeepSeek-R1-Distill-*,
Qwen3. Fused QKV and gate-up projections, a slot-based KV cache the scheduler can fork, move and
append to, and positions per row so sequences of different lengths decode in one batch.

Weights are taken from the HF model (so loading, dtype and device handling stay transformers'),
then fused; the HF modules are dropped.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine import attention
from engine.cpu import ops
from engine.quant import QuantLinear, quantize, quantize_head, swiglu

FAMILIES = ("llama", "qwen2", "qwen3")


@dataclass
class Args:
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    hidden: int
    vocab: int
    eps: float
    qkv_bias: bool
    qk_norm: bool


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        if ops.eager(x, 16):
            return ops.rms_norm(x, self.weight, self.eps)
        if x.dtype == torch.float32:  # what HF's formula computes in fp32
            return F.rms_norm(x, self.weight.shape, self.weight, self.eps)
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Block(nn.Module):
    def __init__(self, a: Args):
        super().__init__()
        self.a = a
        self.attn_norm = RMSNorm(a.dim, a.eps)
        self.qkv = nn.Linear(a.dim, (a.n_heads + 2 * a.n_kv_heads) * a.head_dim, bias=a.qkv_bias)
        self.o = nn.Linear(a.n_heads * a.head_dim, a.dim, bias=False)
        if a.qk_norm:
            self.q_norm = RMSNorm(a.head_dim, a.eps)
            self.k_norm = RMSNorm(a.head_dim, a.eps)
        self.mlp_norm = RMSNorm(a.dim, a.eps)
        self.gate_up = nn.Linear(a.dim, 2 * a.hidden, bias=False)
        self.down = nn.Linear(a.hidden, a.dim, bias=False)

    def forward(self, x, cos, sin, at, mask, kc, vc, bf16=False, lens=None, share=None):
        a = self.a
        B, T, _ = x.shape
        H, KV, hd = a.n_heads, a.n_kv_heads, a.head_dim
        qk, v = self.qkv(self.attn_norm(x)).split([(H + KV) * hd, KV * hd], dim=-1)
        qk = qk.view(B, T, H + KV, hd)
        if a.qk_norm:
            qk = torch.cat([self.q_norm(qk[:, :, :H]), self.k_norm(qk[:, :, H:])], dim=2)
        if ops.eager(qk, 32):  # q and k rotated together: one call (or half the ops)
            ops.rope_(qk, cos, sin)
        else:
            qk = qk * cos + rotate_half(qk) * sin
        q, k = qk.split([H, KV], dim=2)
        v = v.view(B, T, KV, hd)
        if lens is not None and ops.eager(v, 16):  # one native call writes the caches and attends
            y = ops.decode_step(q[:, 0], k[:, 0], v[:, 0], kc, vc, lens, share).view(B, T, -1)
        else:
            y = self.attend(q, k, v, at, mask, kc, vc, bf16, lens)
        x = x + self.o(y)
        h, gu = self.mlp_norm(x), self.gate_up
        h = gu.swiglu(h) if isinstance(gu, QuantLinear) else swiglu(gu(h))  # fused where native
        return x + self.down(h)

    @staticmethod
    def attend(q, k, v, at, mask, kc, vc, bf16, lens):
        """Write k, v [B, T, KV, D] into the caches; q [B, T, H, D]'s attention → [B, T, H*D]."""
        B, T = q.shape[:2]
        if kc.dtype == torch.uint8:  # int8 rows: only native kernels read and write them, and
            # only a prompt chunk comes here (a step writes them in ops.decode_step)
            return ops.prefill_attention(q.transpose(1, 2), kc, vc, at, k, v).view(B, T, -1)
        if isinstance(at, int):  # every row writes at positions at..at+T-1: a slice, no scatter
            kc[:, :, at:at + T] = k.transpose(1, 2)
            vc[:, :, at:at + T] = v.transpose(1, 2)
        else:  # rows at their own positions (different lengths in one batch)
            rows, pos = at
            kc[rows, :, pos] = k.to(kc.dtype)
            vc[rows, :, pos] = v.to(vc.dtype)
        if bf16:  # a prompt chunk at positions at..at+T-1 (engine/attention.py)
            y = attention.prefill(q.transpose(1, 2), kc, vc, at)
        elif lens is not None:  # one query a row over its first lens[b] keys (engine/cpu)
            y = ops.decode_attention(q[:, 0], kc, vc, lens)[:, :, None]
        else:
            y = F.scaled_dot_product_attention(q.transpose(1, 2), kc, vc, attn_mask=mask,
                                               enable_gqa=True, is_causal=T > 1 and at == 0)
        return y.transpose(1, 2).reshape(B, T, -1)


class Transformer(nn.Module):
    def __init__(self, a: Args, inv_freq: torch.Tensor, rope_scale: float):
        super().__init__()
        self.a = a
        self.embed = nn.Embedding(a.vocab, a.dim)
        self.layers = nn.ModuleList(Block(a) for _ in range(a.n_layers))
        self.norm = RMSNorm(a.dim, a.eps)
        self.lm_head = nn.Linear(a.dim, a.vocab, bias=False)
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.rope_scale = rope_scale
        self.register_buffer("cos", torch.empty(0, a.head_dim), persistent=False)
        self.register_buffer("sin", torch.empty(0, a.head_dim), persistent=False)
        self.bf16_prefill = False  # prompt chunks through engine/attention.py (set by from_hf)
        self.native_decode = False  # decode attention by engine/cpu (set by from_hf)
        self.kv_dtype = torch.float32  # the KV cache's (set by from_hf)

    def forward(self, tokens, pos, k_cache, v_cache, all_logits=False, start=None, share=None):
        """tokens, pos: [B, T]; k_cache/v_cache: per layer [B, kv_heads, n, head_dim] views whose
        row b belongs to tokens[b]; attention runs over all n cached positions, masked per row to
        those <= its own. `start`: every row is at positions start..start+T-1 and n == start + T
        (a prefill, or a decode batch of rows of one length): no scatter, and a mask only for a
        chunk after the first. Nothing here reads a tensor's value on the host, so a decode step
        can be compiled or captured in a CUDA graph. `share`: rows' prefixes held by other rows,
        for the eager native decode (ops.decode_step). Returns logits [B, V] (last position) or
        [B, T, V]."""
        B, T = tokens.shape
        if self.cos.shape[0] < k_cache[0].shape[2]:
            self.reserve(k_cache[0].shape[2])
        x = self.embed(tokens)
        cos = self.cos[pos].to(x.dtype)[:, :, None]
        sin = self.sin[pos].to(x.dtype)[:, :, None]
        bf16 = start is not None and T > 1 and self.bf16_prefill
        lens = (pos[:, 0] + 1).int() if T == 1 and self.native_decode else None  # keys a row sees
        mask = None
        if start is not None:
            at = start
            if not (T == 1 or start == 0 or bf16):
                mask = self.causal(start, T, pos.device)
        else:
            at = (torch.arange(B, device=pos.device)[:, None], pos)
            if lens is None:
                keys = torch.arange(k_cache[0].shape[2], device=pos.device)
                mask = keys[None, None, None, :] <= pos[:, None, :, None]
        for layer, kc, vc in zip(self.layers, k_cache, v_cache):
            x = layer(x, cos, sin, at, mask, kc, vc, bf16, lens, share)
        x = self.norm(x if all_logits else x[:, -1])
        return self.lm_head(x).float()

    def reserve(self, n: int) -> None:
        """Rope tables for positions 0..n-1 (the cache's capacity: no lookup can go past it)."""
        freqs = torch.arange(n, device=self.inv_freq.device).float()[:, None] * self.inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)
        self.cos, self.sin = emb.cos() * self.rope_scale, emb.sin() * self.rope_scale

    @staticmethod
    def causal(start, T, device):
        """Chunk rows start..start+T-1 over keys 0..start+T-1: each row sees up to itself."""
        return (torch.arange(start + T, device=device)[None, :]
                <= torch.arange(start, start + T, device=device)[:, None])


def supports(hf_config) -> bool:
    return getattr(hf_config, "model_type", None) in FAMILIES


@torch.no_grad()
def from_hf(hf_model, quant: str = "none", progress=None) -> Transformer:
    """Our model from a loaded HF one, built a layer at a time: each HF layer's weights are fused
    (and quantized) and then released, so peak memory stays near one model plus one layer.
    `progress(fraction)` after each layer."""
    c = hf_model.config
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    sd = hf_model.state_dict()
    a = Args(dim=c.hidden_size, n_layers=c.num_hidden_layers, n_heads=c.num_attention_heads,
             n_kv_heads=c.num_key_value_heads, head_dim=head_dim, hidden=c.intermediate_size,
             vocab=c.vocab_size, eps=c.rms_norm_eps,
             qkv_bias="model.layers.0.self_attn.q_proj.bias" in sd,
             qk_norm="model.layers.0.self_attn.q_norm.weight" in sd)
    rotary = hf_model.model.rotary_emb
    inv_freq = rotary.inv_freq.detach().float().clone()
    with torch.device("meta"):
        model = Transformer(a, torch.empty(0), float(rotary.attention_scaling))
    model.inv_freq = inv_freq
    model.cos = model.sin = torch.empty(0, head_dim, device=inv_freq.device)
    dtype = sd["model.norm.weight"].dtype
    for i, layer in enumerate(model.layers):
        layer.load_state_dict(_layer_weights(sd, i, a), assign=True, strict=True)
        quantize(layer, quant, dtype)
        for key in [k for k in sd if k.startswith(f"model.layers.{i}.")]:
            del sd[key]
        hf_model.model.layers[i].to("meta")  # frees the HF copy of this layer
        if progress:
            progress((i + 1) / a.n_layers)
    loaded_embed = sd["model.embed_tokens.weight"]
    loaded_head = sd.get("lm_head.weight", loaded_embed)
    embed = loaded_embed.clone()
    head = embed if loaded_head.data_ptr() == loaded_embed.data_ptr() else loaded_head.clone()
    model.embed.load_state_dict({"weight": embed}, assign=True)
    model.norm.load_state_dict({"weight": sd["model.norm.weight"].clone()}, assign=True)
    model.lm_head.load_state_dict({"weight": head}, assign=True)
    quantize_head(model, quant)
    model.bf16_prefill = quant != "none" and attention.pays(model.norm.weight.device)
    model.native_decode = ops.attention_fits(model.norm.weight, head_dim)
    # Quantized models keep K and V as int8 rows (engine/cpu/kv8.h): 68 bytes a head and position
    # against fp32's 256 and bf16's 128 (one row at 4,000 tokens read as many bytes of bf16 KV a
    # step as of int4 weights), for +0.3 % perplexity at 2,048 tokens and argmax flips at ~3-5 %
    # of positions, as many as int4 against int8 weights. Against bf16, same process: decode
    # after 4,000 tokens +11 %, after 2,000 +7 %, one stream +4 %, 8 forked branches +5 %, a
    # resume 1 ms slower (prefill.cpp reads bf16 copies of the rows).
    model.kv_dtype = torch.uint8 if model.bf16_prefill and model.native_decode else dtype
    return model.eval()


def _layer_weights(sd: dict, i: int, a: Args) -> dict:
    """Layer i's weights, fused, in memory of their own: a tensor kept as loaded may be a view
    of the mmapped checkpoint, and one such view keeps the whole file resident."""
    p, attn = f"model.layers.{i}.", f"model.layers.{i}.self_attn."
    w = {"attn_norm.weight": sd[p + "input_layernorm.weight"],
         "mlp_norm.weight": sd[p + "post_attention_layernorm.weight"],
         "qkv.weight": torch.cat([sd[attn + f"{n}_proj.weight"] for n in "qkv"]),
         "o.weight": sd[attn + "o_proj.weight"],
         "gate_up.weight": torch.cat([sd[p + "mlp.gate_proj.weight"], sd[p + "mlp.up_proj.weight"]]),
         "down.weight": sd[p + "mlp.down_proj.weight"]}
    if a.qkv_bias:
        w["qkv.bias"] = torch.cat([sd[attn + f"{n}_proj.bias"] for n in "qkv"])
    if a.qk_norm:
        w["q_norm.weight"] = sd[attn + "q_norm.weight"]
        w["k_norm.weight"] = sd[attn + "k_norm.weight"]
    return {k: t if k.endswith(("qkv.weight", "qkv.bias", "gate_up.weight")) else t.clone()
            for k, t in w.items()}
