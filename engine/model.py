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

    def forward(self, x, cos, sin, rows, pos, mask, kc, vc):
        a = self.a
        B, T, _ = x.shape
        q, k, v = self.qkv(self.attn_norm(x)).split(
            [a.n_heads * a.head_dim, a.n_kv_heads * a.head_dim, a.n_kv_heads * a.head_dim], dim=-1)
        q = q.view(B, T, a.n_heads, a.head_dim)
        k = k.view(B, T, a.n_kv_heads, a.head_dim)
        v = v.view(B, T, a.n_kv_heads, a.head_dim)
        if a.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        # Each row writes its new keys at its own positions: rows may have different lengths.
        kc[rows, :, pos] = k
        vc[rows, :, pos] = v
        n = mask.shape[-1]
        y = F.scaled_dot_product_attention(q.transpose(1, 2), kc[:, :, :n], vc[:, :, :n],
                                           attn_mask=mask, enable_gqa=True)
        x = x + self.o(y.transpose(1, 2).reshape(B, T, -1))
        gate, up = self.gate_up(self.mlp_norm(x)).chunk(2, dim=-1)
        return x + self.down(F.silu(gate) * up)


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

    def forward(self, tokens, pos, k_cache, v_cache, all_logits=False):
        """tokens, pos: [B, T]; k_cache/v_cache: per layer [B, kv_heads, capacity, head_dim] views
        whose row b belongs to tokens[b]. Returns logits [B, V] (last position) or [B, T, V]."""
        B, T = tokens.shape
        x = self.embed(tokens)
        freqs = pos[..., None].float() * self.inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)
        cos = (emb.cos() * self.rope_scale).to(x.dtype)[:, :, None, :]
        sin = (emb.sin() * self.rope_scale).to(x.dtype)[:, :, None, :]
        n = int(pos.max()) + 1
        mask = torch.arange(n, device=pos.device)[None, None, None, :] <= pos[:, None, :, None]
        rows = torch.arange(B, device=pos.device)[:, None]
        for layer, kc, vc in zip(self.layers, k_cache, v_cache):
            x = layer(x, cos, sin, rows, pos, mask, kc, vc)
        x = self.norm(x if all_logits else x[:, -1])
        return self.lm_head(x).float()


def supports(hf_config) -> bool:
    return getattr(hf_config, "model_type", None) in FAMILIES


@torch.no_grad()
def from_hf(hf_model) -> Transformer:
    c = hf_model.config
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    sd = hf_model.state_dict()
    a = Args(dim=c.hidden_size, n_layers=c.num_hidden_layers, n_heads=c.num_attention_heads,
             n_kv_heads=c.num_key_value_heads, head_dim=head_dim, hidden=c.intermediate_size,
             vocab=c.vocab_size, eps=c.rms_norm_eps,
             qkv_bias="model.layers.0.self_attn.q_proj.bias" in sd,
             qk_norm="model.layers.0.self_attn.q_norm.weight" in sd)
    ours = {"embed.weight": sd["model.embed_tokens.weight"], "norm.weight": sd["model.norm.weight"],
            "lm_head.weight": sd.get("lm_head.weight", sd["model.embed_tokens.weight"])}
    for i in range(a.n_layers):
        p, attn = f"model.layers.{i}.", f"model.layers.{i}.self_attn."
        ours[f"layers.{i}.attn_norm.weight"] = sd[p + "input_layernorm.weight"]
        ours[f"layers.{i}.mlp_norm.weight"] = sd[p + "post_attention_layernorm.weight"]
        ours[f"layers.{i}.qkv.weight"] = torch.cat([sd[attn + f"{n}_proj.weight"] for n in "qkv"])
        if a.qkv_bias:
            ours[f"layers.{i}.qkv.bias"] = torch.cat([sd[attn + f"{n}_proj.bias"] for n in "qkv"])
        if a.qk_norm:
            ours[f"layers.{i}.q_norm.weight"] = sd[attn + "q_norm.weight"]
            ours[f"layers.{i}.k_norm.weight"] = sd[attn + "k_norm.weight"]
        ours[f"layers.{i}.o.weight"] = sd[attn + "o_proj.weight"]
        ours[f"layers.{i}.gate_up.weight"] = torch.cat([sd[p + "mlp.gate_proj.weight"],
                                                        sd[p + "mlp.up_proj.weight"]])
        ours[f"layers.{i}.down.weight"] = sd[p + "mlp.down_proj.weight"]
    rotary = hf_model.model.rotary_emb
    with torch.device("meta"):
        model = Transformer(a, torch.empty(0), 1.0)
    model.load_state_dict(ours, assign=True, strict=True)
    model.inv_freq = rotary.inv_freq.detach().float().clone()
    model.rope_scale = float(rotary.attention_scaling)
    return model.eval()
