"""The bf16 prefill attention (engine/attention.py: engine/cpu's kernel, or torch's bf16 GEMMs
without it) against torch's exact kernel: the same causal attention for a first chunk and for a
chunk appended to a cache, in one block of query rows or many."""
import pytest
import torch
import torch.nn.functional as F

from engine import attention
from engine.cpu import ops


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("start, block", [(0, 8 << 20), (37, 8 << 20), (300, 4096)])
def test_matches_sdpa_within_bf16_precision(monkeypatch, native, start, block):
    if native and ops.library() is None:
        pytest.skip("engine/cpu's kernels are not built on this machine")
    if not native:
        monkeypatch.setattr(ops, "library", lambda: None)
    monkeypatch.setattr(attention, "BLOCK_BYTES", block)  # 4 KB: many row blocks
    gen = torch.Generator().manual_seed(0)
    T, n = 45, start + 45
    q = torch.randn(2, 9, T, 64, generator=gen)
    k, v = torch.randn(2, 3, n, 64, generator=gen), torch.randn(2, 3, n, 64, generator=gen)
    mask = torch.arange(n)[None, :] <= torch.arange(start, n)[:, None]
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)
    got = attention.prefill(q, k, v, start)
    assert got.dtype == q.dtype and got.shape == want.shape
    assert (got - want).norm() / want.norm() < 1e-2
    # a row sees no key past its own position: changing a later key leaves earlier rows alone
    k2 = k.clone()
    k2[:, :, -1] += 5
    assert torch.equal(attention.prefill(q, k2, v, start)[:, :, :-1], got[:, :, :-1])
