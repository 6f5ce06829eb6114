"""Weight-only quantization by swapping nn.Linear modules (gpt-fast style).

int8: one symmetric scale per output channel. int4: asymmetric, a scale and a zero per group of
`group` input columns, in the layout torch's packed int4 kernels take (w = (q - 8) * scale + zero).

Kernels, in order of preference: on CPUs with AVX512-VNNI or AVX2 our own (engine/cpu: activations
quantized to int8 per 32 values, integer dot products; 2-3x torch's for 1-8 rows); else torch's
aten._weight_int8pack_mm and aten._weight_int4pack_mm_for_cpu, fed bf16 activations (their fp32
paths are 20-100x slower); on CUDA the tinygemm aten._weight_int4pack_mm (bf16 only). The output
goes back to the model's dtype. A kernel is checked once against the dequantized weight when the
layer is built; a device or shape none can do (int8 off CPU, MPS, odd sizes) dequantizes per call
instead, which is correct anywhere.

The embedding is quantized to int8 rows whenever the weights are (a lookup dequantizes the rows it
reads); with tied weights it shares the int8 lm_head's tensors, so the table is held once.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.cpu import ops

MODES = ("none", "int8", "int4")  # and "auto", which choose() turns into one of them
KERNEL_DTYPE = torch.bfloat16
GROUP = 32  # int4 columns per scale/zero: the Q4 GGUF block (finer costs speed, coarser quality)


def int8_weights(w: Tensor) -> tuple[Tensor, Tensor]:
    w = w.float()
    scales = w.abs().amax(dim=1).clamp(min=1e-8) / 127
    return (w / scales[:, None]).round().clamp(-128, 127).to(torch.int8), scales


def int4_weights(w: Tensor, group: int) -> tuple[Tensor, Tensor, Tensor]:
    """q [N, K] int32 in 0..15, scales and zeros [N, K // group]."""
    n, k = w.shape
    g = w.float().reshape(n, k // group, group)
    lo, hi = g.amin(dim=-1), g.amax(dim=-1)
    scales = ((hi - lo) / 15).clamp(min=1e-8)
    q = ((g - lo[..., None]) / scales[..., None]).round().clamp(0, 15).to(torch.int32)
    return q.reshape(n, k), scales, lo + 8 * scales


def swiglu(y: Tensor) -> Tensor:
    """The llama MLP's activation over a fused gate-up output [..., 2 * hidden]."""
    gate, up = y.chunk(2, dim=-1)
    return F.silu(gate) * up


class QuantLinear(nn.Module):
    """What the quantized layers share: the SwiGLU of a fused gate-up weight, computed in the
    native matmul's epilogue (half the output written, no separate SiLU and product)."""

    kernel: str | None

    def swiglu(self, x: Tensor) -> Tensor:
        if self.kernel == "native" and self.bias is None and self.weight.shape[0] % 2 == 0:
            return self.native(x, glu=True)
        return swiglu(self(x))


class Int8Linear(QuantLinear):
    def __init__(self, weight: Tensor, bias: Tensor | None, dtype: torch.dtype, pack: bool = True):
        super().__init__()
        q, scales = int8_weights(weight)
        self.register_buffer("weight", q)
        self.register_buffer("scales", scales.to(dtype))
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)
        self.kernel = None
        if pack and weight.device.type == "cpu":
            ref = self.dequantized()
            if ops.fits(*q.shape):
                self.kernel, self.weight = "native", ops.pack_int8(q)
                self.register_buffer("kernel_scales", scales.float())
            else:
                self.kernel = "torch"
                self.register_buffer("kernel_scales", scales.to(KERNEL_DTYPE))
            if not _agrees(self, ref):
                self.kernel, self.weight = None, q

    def native(self, x: Tensor, glu: bool = False) -> Tensor:
        return ops.int8_mm(x, self.weight, self.kernel_scales, glu)

    def forward(self, x: Tensor) -> Tensor:
        if self.kernel == "native":
            y = self.native(x)
        elif self.kernel == "torch":
            y = torch.ops.aten._weight_int8pack_mm(x.reshape(-1, x.shape[-1]).to(KERNEL_DTYPE),
                                                   self.weight, self.kernel_scales)
            y = y.view(*x.shape[:-1], -1).to(x.dtype)
        else:
            y = F.linear(x, self.weight.to(x.dtype)) * self.scales
        return y if self.bias is None else y + self.bias

    def rows(self, ids: Tensor) -> Tensor:
        """The int8 weight's rows `ids` (an embedding lookup on a tied table)."""
        return ops.int8_rows(self.weight, ids) if self.kernel == "native" else self.weight[ids]

    def dequantized(self) -> Tensor:
        return self.weight.float() * self.scales.float()[:, None]


class Int4Linear(QuantLinear):
    def __init__(self, weight: Tensor, bias: Tensor | None, group: int):
        super().__init__()
        self.group = group
        q, scales, zeros = int4_weights(weight, group)
        sz = torch.stack([scales.t(), zeros.t()], dim=-1).contiguous().to(KERNEL_DTYPE)
        self.register_buffer("scales_zeros", sz)  # [K // group, N, 2]
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)
        self.register_buffer("weight", q.to(torch.uint8))  # one nibble a byte: the fallback
        self.kernel = None
        ref = self.dequantized()
        if weight.device.type == "cpu" and group == ops.GROUP and ops.fits(*q.shape):
            self.kernel = "native"
            self.weight, self.scales_zeros = ops.pack_int4(q, sz)
        elif (packed := _pack(q)) is not None:
            self.kernel, self.weight = "torch", packed
        if self.kernel and not _agrees(self, ref):
            self.kernel, self.weight, self.scales_zeros = None, q.to(torch.uint8), sz

    def native(self, x: Tensor, glu: bool = False) -> Tensor:
        return ops.int4_mm(x, self.weight, self.scales_zeros, glu)

    def forward(self, x: Tensor) -> Tensor:
        if self.kernel == "native":
            y = self.native(x)
        elif self.kernel == "torch":
            op = (torch.ops.aten._weight_int4pack_mm_for_cpu if x.device.type == "cpu"
                  else torch.ops.aten._weight_int4pack_mm)
            y = op(x.reshape(-1, x.shape[-1]).to(KERNEL_DTYPE), self.weight, self.group,
                   self.scales_zeros)
            y = y.view(*x.shape[:-1], -1).to(x.dtype)
        else:
            y = F.linear(x, self.dequantized().to(x.dtype))
        return y if self.bias is None else y + self.bias

    def dequantized(self) -> Tensor:
        """The weight [N, K] from the unpacked nibbles (the fallback's and the check's view)."""
        n, k = self.weight.shape
        sz = self.scales_zeros.float().transpose(0, 1)  # [N, K // group, 2]
        q = self.weight.float().reshape(n, k // self.group, self.group) - 8
        return (q * sz[..., :1] + sz[..., 1:]).reshape(n, k)


class Int8Embedding(nn.Module):
    """Rows of an int8 table; a lookup dequantizes only the rows it reads. `table` is the int8
    head whose weight it shares when the weights are tied."""

    def __init__(self, table: Int8Linear):
        super().__init__()
        self.table = table

    def forward(self, ids: Tensor) -> Tensor:
        return self.table.rows(ids).to(self.table.scales.dtype) * self.table.scales[ids, None]


def _pack(q: Tensor) -> Tensor | None:
    try:
        if q.device.type == "cpu":
            return torch.ops.aten._convert_weight_to_int4pack_for_cpu(q, 1)
        if q.device.type == "cuda":  # tinygemm: two nibbles a byte, K in tiles of 16 * inner
            inner = next(t for t in (8, 4, 2) if q.shape[1] % (16 * t) == 0)
            return torch.ops.aten._convert_weight_to_int4pack(
                (q[:, ::2] << 4 | q[:, 1::2]).to(torch.uint8), inner)
    except (RuntimeError, StopIteration):
        pass
    return None


def _agrees(layer: nn.Module, weight: Tensor) -> bool:
    """Does the layer's kernel compute x @ weight^T (bias aside)?"""
    bias, layer.bias = layer.bias, None
    gen = torch.Generator(weight.device).manual_seed(0)  # leaves the global RNG alone
    x = torch.randn(3, weight.shape[1], device=weight.device, generator=gen)
    try:
        got = layer(x).float()
    except RuntimeError:
        return False
    finally:
        layer.bias = bias
    want = x.to(KERNEL_DTYPE).float() @ weight.t()
    return bool((got - want).norm() / want.norm() < 2e-2)


def choose(mode: str, device: torch.device, source: str) -> str:
    """"auto": on CPU, int4 for a model converted from a 4-bit GGUF (its weights already sit on a
    4-bit grid of 32-weight blocks, so int4 loses nothing: +0.2 % perplexity on the bundled model,
    like int8's +0.3 %, at 19.4x fp32's speed in benchmarks/speed.py) and int8 for anything else
    (15.2x); off the CPU none (bf16 there already halves the bytes, and these kernels are only
    checked, not tuned, on GPU)."""
    if mode != "auto":
        return mode
    if device.type != "cpu":
        return "none"
    return "int4" if any(q in source for q in (".Q4", "-Q4", "_Q4")) else "int8"


def quantize(module: nn.Module, mode: str, dtype: torch.dtype) -> None:
    """Swap the nn.Linear layers inside `module` for `mode` ones, in place."""
    if mode not in MODES:
        raise ValueError(f"unknown quantization '{mode}' (use {', '.join(MODES)})")
    if mode == "none":
        return
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                w, b = child.weight.data, None if child.bias is None else child.bias.data
                four = mode == "int4" and w.shape[1] % GROUP == 0
                setattr(parent, name, Int4Linear(w, b, GROUP) if four else Int8Linear(w, b, dtype))


def quantize_head(model: nn.Module, mode: str) -> None:
    """The lm_head to int8 under either mode (at 4 bits it alone costs ~5 % perplexity on the
    bundled model) and the embedding to int8 rows, sharing the head's tensors when tied."""
    if mode == "none":
        return
    dtype = model.norm.weight.dtype
    tied = model.lm_head.weight.data_ptr() == model.embed.weight.data_ptr()
    model.lm_head = Int8Linear(model.lm_head.weight.data, None, dtype)
    # untied: a table of its own, kept in plain rows (it is never multiplied)
    table = model.lm_head if tied else Int8Linear(model.embed.weight.data, None, dtype, False)
    model.embed = Int8Embedding(table)


@torch.inference_mode()
def perplexity(model: nn.Module, ids: list[int]) -> float:
    """exp(mean next-token NLL) of `ids` under our Transformer, in one pass."""
    a, ref = model.a, model.norm.weight
    tokens = torch.tensor([ids], device=ref.device)
    width = ops.kv_width(a.head_dim, model.kv_dtype)
    k = [torch.zeros(1, a.n_kv_heads, len(ids), width, dtype=model.kv_dtype, device=ref.device)
         for _ in range(a.n_layers)]
    v = [torch.zeros_like(t) for t in k]
    logits = model(tokens, torch.arange(len(ids), device=ref.device)[None], k, v, all_logits=True,
                   start=0)
    return float(F.cross_entropy(logits[0, :-1].float(), tokens[0, 1:]).exp())
