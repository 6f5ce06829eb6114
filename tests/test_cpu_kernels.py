"""The native CPU kernels (engine/cpu) against torch's reference computations, and the fallback to
torch's kernels where they can't be built."""
import os

import pytest
import torch
import torch.nn.functional as F

from engine.cpu import build, ops
from engine.quant import Int4Linear, Int8Linear, int4_weights, int8_weights
from tests.kernels import built, native

gen = torch.Generator().manual_seed(0)


def rel(a, b):
    return float((a - b).norm() / b.norm())


INT8 = torch.uint8  # a cache of int8 rows (engine/cpu/kv8.h)
KV = [torch.float32, torch.bfloat16, INT8]


def cache(x, dtype):
    """fp32 [..., D] as a cache of dtype; int8 rows: round(x / scale) + 128, then the fp32 scale's
    bytes (kv8.h's layout, written here the way the kernels write it)."""
    if dtype != INT8:
        return x.to(dtype)
    amax = x.abs().amax(-1, keepdim=True)
    # 127 / amax divided, as the kernels do: torch's scalar / tensor multiplies by the reciprocal,
    # an ulp off a quarter of the time, and a value then rounds one step off once in ~10^4 rows
    q = torch.round(x * (torch.tensor(127.) / amax)) + 128  # round half to even, as the kernels
    return torch.cat([q.to(INT8), (amax / 127).view(INT8)], -1)


def values(c):
    """A cache's values in fp32."""
    if c.dtype != INT8:
        return c.float()
    return (c[..., :-4].float() - 128) * c[..., -4:].contiguous().view(torch.float32)


@native
@pytest.mark.parametrize("rows", [1, 3, 8, 13, 200])
def test_int4_matmul_matches_the_dequantized_weight(rows):
    w, x = torch.randn(96, 128, generator=gen), torch.randn(rows, 128, generator=gen)
    q, scales, zeros = int4_weights(w, 32)
    sz = torch.stack([scales.t(), zeros.t()], dim=-1).contiguous().bfloat16()
    packed, psz = ops.pack_int4(q, sz)
    assert torch.equal(ops.unpack_int4(packed), q.to(torch.uint8))
    s, z = sz.float().transpose(0, 1).unsqueeze(-1).unbind(-2)
    ref = ((q.float().view(96, 4, 32) - 8) * s + z).view(96, 128)
    # the activations go to int8 in blocks of 32: ~0.6 % error on gaussian rows (bf16: ~0.2 %)
    assert rel(ops.int4_mm(x, packed, psz), x @ ref.t()) < 1e-2


@native
@pytest.mark.parametrize("rows", [1, 8, 11])
def test_int8_matmul_and_row_lookup(rows):
    w, x = torch.randn(64, 96, generator=gen), torch.randn(rows, 96, generator=gen)
    q, scales = int8_weights(w)
    packed = ops.pack_int8(q)
    ids = torch.tensor([0, 17, 63, 5, 17])
    assert torch.equal(ops.int8_rows(packed, ids), q[ids])
    assert rel(ops.int8_mm(x, packed, scales), x @ (q.float() * scales[:, None]).t()) < 1e-2


@native
def test_layers_take_the_native_kernels_and_keep_their_bias():
    w, b = torch.randn(48, 64, generator=gen), torch.randn(48, generator=gen)
    x = torch.randn(2, 5, 64, generator=gen)
    for layer in (Int4Linear(w, b, 32), Int8Linear(w, b, torch.float32)):
        assert layer.kernel == "native"
        got = layer(x)
        assert got.shape == (2, 5, 48) and got.dtype == torch.float32
        assert rel(got, x @ w.t() + b) < 0.15  # int4 weights: a few % of the weight itself


@native
@pytest.mark.parametrize("rows", [1, 8, 13])
def test_swiglu_in_the_matmul_epilogue(rows):
    w, x = torch.randn(96, 64, generator=gen), torch.randn(rows, 64, generator=gen) * 3
    for layer in (Int4Linear(w, None, 32), Int8Linear(w, None, torch.float32)):
        y = layer(x)  # rows 0..47 the gate, 48..95 the up projection
        want = F.silu(y[:, :48]) * y[:, 48:]
        got = layer.swiglu(x)
        assert got.shape == (rows, 48) and rel(got, want) < 1e-5
    assert (got - want).abs().max() < 1e-4  # silu of negative gates too (exp of |x| only)


@native
@pytest.mark.parametrize("dtype", KV)
@pytest.mark.parametrize("D,H,KV", [(64, 9, 3), (128, 4, 4), (64, 16, 2), (256, 8, 1)])
def test_decode_attention_matches_sdpa_per_row_length(D, H, KV, dtype):
    B, n = 5, 300
    kc = cache(torch.randn(B, KV, 512, D, generator=gen), dtype)  # attention reads a view
    vc = cache(torch.randn(B, KV, 512, D, generator=gen), dtype)
    q = torch.randn(B, H, D, generator=gen)
    lens = torch.tensor([300, 1, 17, 16, 257], dtype=torch.int32)
    k, v = kc[:, :, :n], vc[:, :, :n]
    mask = torch.arange(n)[None, None, None, :] < lens[:, None, None, None]
    ref = F.scaled_dot_product_attention(q[:, :, None], values(k), values(v), attn_mask=mask,
                                         enable_gqa=True)[:, :, 0]
    got = ops.decode_attention(q, k, v, lens)
    if dtype == torch.float32:
        assert (got - ref).abs().max() < 1e-5
    else:  # q rounded to bf16 or int8 (a scale a head), the probabilities to bf16 or fp32
        assert rel(got, ref) < 1e-2 and (got - ref).abs().max() < 2e-2
    one = values(v[1, :, :1]).repeat_interleave(H // KV, 0)[:, 0]  # a row of one key: its value
    assert got[1].allclose(one, atol=1e-5 if dtype == INT8 else 1e-6)


@native
@pytest.mark.parametrize("dtype", KV)
@pytest.mark.parametrize("H,KV,D", [(9, 3, 64), (12, 2, 128), (8, 1, 256)])
def test_long_rows_split_across_threads_match_sdpa(monkeypatch, dtype, H, KV, D):
    # few (row, KV head) tasks for the threads: each row's keys go in ranges attended apart; the
    # ranges cross the end of a prefix read from another row and end at the step's new key
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    B, n = 2, 2000  # ranges of 400 keys or more: 2 to 4 of them a row
    kc, vc = (cache(torch.randn(B, KV, n + 5, D, generator=gen), dtype) for _ in range(2))
    kc[1, :, :700], vc[1, :, :700] = kc[0, :, :700], vc[0, :, :700]
    q, k, v = torch.randn(B, H, D, generator=gen), *torch.randn(2, B, KV, D, generator=gen)
    lens = torch.tensor([n - 300, n], dtype=torch.int32)
    share = torch.tensor([[0, 0], [0, 700]], dtype=torch.int32)
    got = ops.decode_step(q, k, v, kc, vc, lens, share)
    for b, m in enumerate(lens.tolist()):
        assert torch.equal(kc[b, :, m - 1], cache(k[b], dtype))
        assert torch.equal(vc[b, :, m - 1], cache(v[b], dtype))
        want = F.scaled_dot_product_attention(q[b, :, None], values(kc[b, :, :m]),
                                              values(vc[b, :, :m]), enable_gqa=True)[:, 0]
        if dtype == torch.float32:
            assert (got[b] - want).abs().max() < 1e-5
        else:
            assert rel(got[b], want) < 1e-2


@native
@pytest.mark.parametrize("dtype", KV)
@pytest.mark.parametrize("H,KV,D", [(9, 3, 64), (4, 2, 128), (2, 1, 256)])
def test_decode_step_writes_the_new_key_and_value_then_attends(dtype, H, KV, D):
    B = 3
    kc, vc = (cache(torch.randn(B, KV, 64, D, generator=gen), dtype) for _ in range(2))
    qkv = torch.randn(B, (H + 2 * KV) * D, generator=gen)  # q, k, v: views of one projection
    q, k, v = qkv.view(B, H + 2 * KV, D).split([H, KV, KV], dim=1)
    lens = torch.tensor([10, 1, 40], dtype=torch.int32)
    want_k, want_v = kc.clone(), vc.clone()
    for b, n in enumerate(lens.tolist()):
        want_k[b, :, n - 1], want_v[b, :, n - 1] = cache(k[b], dtype), cache(v[b], dtype)
    want = ops.decode_attention(q.contiguous(), want_k, want_v, lens)
    got = ops.decode_step(q, k, v, kc, vc, lens)
    assert torch.equal(kc, want_k) and torch.equal(vc, want_v)  # the same rounding
    assert torch.equal(got, want)


@native
@pytest.mark.parametrize("dtype", KV)
@pytest.mark.parametrize("H,KV,D", [(9, 3, 64), (4, 2, 128)])
def test_decode_step_reads_a_shared_prefix_from_the_row_named(dtype, H, KV, D):
    B = 5
    kc, vc = (cache(torch.randn(B, KV, 80, D, generator=gen), dtype) for _ in range(2))
    qkv = torch.randn(B, (H + 2 * KV) * D, generator=gen)
    q, k, v = qkv.view(B, H + 2 * KV, D).split([H, KV, KV], dim=1)
    lens = torch.tensor([40, 41, 60, 33, 12], dtype=torch.int32)
    # rows 1-3 read a prefix of row 0 (17 keys: a run ending inside a block of 16 and on an odd
    # key; 32; 1), row 4 one of row 2 reaching its own new key (the kernel stops before it)
    share = torch.tensor([[0, 0, 0, 0, 2], [0, 17, 32, 1, 12]], dtype=torch.int32)
    want_k, want_v = kc.clone(), vc.clone()
    for b, (src, n) in enumerate(share.t().tolist()):
        n = min(n, lens[b].item() - 1)
        want_k[b, :, :n], want_v[b, :, :n] = kc[src, :, :n], vc[src, :, :n]
        want_k[b, :, lens[b] - 1] = cache(k[b], dtype)
        want_v[b, :, lens[b] - 1] = cache(v[b], dtype)
    want = ops.decode_attention(q.contiguous(), want_k, want_v, lens)
    before = kc.clone()
    got = ops.decode_step(q, k, v, kc, vc, lens, share)
    assert (got - want).abs().max() < 1e-5  # bf16: value pairs split differently at odd runs
    if dtype != torch.bfloat16:
        assert torch.equal(got, want)
    rows = torch.arange(80)[None, :] != (lens - 1)[:, None]  # all but each row's new position
    assert torch.equal(kc.transpose(1, 2)[rows], before.transpose(1, 2)[rows])


@native
@pytest.mark.parametrize("B, H, KV, D, T, start", [
    (1, 9, 3, 64, 45, 0), (2, 9, 3, 64, 45, 37), (1, 9, 3, 64, 1, 100), (1, 12, 2, 128, 33, 300),
    (1, 16, 8, 128, 7, 5), (1, 4, 4, 256, 40, 70), (2, 6, 1, 64, 70, 129)])
def test_prefill_attention_is_causal_attention_over_the_bf16_cache(B, H, KV, D, T, start):
    # tiles of 32 rows cut across positions and heads, blocks of 64 keys end inside the chunk
    n = start + T
    q = torch.randn(B, T, H, D, generator=gen).transpose(1, 2)  # the model's view of its qkv
    kc, vc = torch.randn(2, B, KV, n + 9, D, generator=gen).bfloat16()
    kc[:, :, n:] = vc[:, :, n:] = float("nan")  # capacity past the chunk is never read
    k, v = kc[:, :, :n], vc[:, :, :n]
    mask = torch.arange(n)[None, :] <= torch.arange(start, n)[:, None]
    want = F.scaled_dot_product_attention(q, k.float(), v.float(), attn_mask=mask,
                                          enable_gqa=True).transpose(1, 2)
    got = ops.prefill_attention(q, kc, vc, start)
    assert got.shape == (B, T, H, D) and got.is_contiguous()
    assert (got - want).norm() / want.norm() < 4e-3  # bf16 products and probabilities
    kc[:, :, n - 1] += 5  # the chunk's last key: only its own query sees it
    again = ops.prefill_attention(q, kc, vc, start)
    assert torch.equal(again[:, :-1], got[:, :-1]) and not torch.equal(again[:, -1], got[:, -1])


@native
@pytest.mark.parametrize("B, H, KV, D, T, start", [
    (1, 9, 3, 64, 45, 0), (2, 9, 3, 64, 45, 37), (1, 12, 2, 128, 33, 300), (1, 4, 4, 256, 40, 70)])
def test_prefill_attention_writes_the_chunk_into_int8_rows_and_attends(B, H, KV, D, T, start):
    n = start + T
    qkv = torch.randn(B, T, H + 2 * KV, D, generator=gen)  # q, k, v: views of one projection
    q, k, v = qkv.split([H, KV, KV], dim=2)
    kc, vc = (cache(torch.randn(B, KV, n + 9, D, generator=gen), INT8) for _ in range(2))
    before = kc.clone()
    got = ops.prefill_attention(q.transpose(1, 2), kc, vc, start, k, v)
    assert torch.equal(kc[:, :, start:n], cache(k.transpose(1, 2), INT8))
    assert torch.equal(vc[:, :, start:n], cache(v.transpose(1, 2), INT8))
    assert torch.equal(kc[:, :, :start], before[:, :, :start])
    assert torch.equal(kc[:, :, n:], before[:, :, n:])
    mask = torch.arange(n)[None, :] <= torch.arange(start, n)[:, None]
    want = F.scaled_dot_product_attention(q.transpose(1, 2), values(kc[:, :, :n]),
                                          values(vc[:, :, :n]), attn_mask=mask,
                                          enable_gqa=True).transpose(1, 2)
    assert (got - want).norm() / want.norm() < 5e-3  # through bf16 copies of the rows


@native
@pytest.mark.parametrize("shape", [(1, 1, 576), (8, 1, 576), (3, 5, 64), (1, 200, 576)])
def test_rms_norm_and_rope_match_torch(shape):
    from engine.model import rotate_half

    x, w = torch.randn(shape, generator=gen), torch.randn(shape[-1], generator=gen)
    assert ops.eager(x, 16) and not ops.eager(x.double(), 16) and not ops.eager(x[..., :8], 16)
    got = ops.rms_norm(x, w, 1e-5)
    assert (got - F.rms_norm(x, (shape[-1],), w, 1e-5)).abs().max() < 1e-5
    B, T = shape[:2]
    qkv = torch.randn(B, T, 15 * 64, generator=gen)  # 9 + 3 heads rotated, 3 value heads not
    qk = qkv[..., :12 * 64].view(B, T, 12, 64)
    cos, sin = torch.randn(2, B, T, 1, 64, generator=gen).unbind(0)
    want, v = qk * cos + rotate_half(qk) * sin, qkv[..., 12 * 64:].clone()
    ops.rope_(qk, cos, sin)
    assert (qk - want).abs().max() < 1e-5 and torch.equal(qkv[..., 12 * 64:], v)


@native
@pytest.mark.parametrize("B,V", [(1, 49152), (4, 1000), (2, 37), (3, 5)])
def test_row_stats_match_torch(B, V):
    x = torch.randn(B, V, generator=gen) * 3
    x[0, V // 2] = x[0, 0] = x[0].max() + 1  # a tie: the first index wins, as in torch.argmax
    k = min(20, V)
    lse, top, arg = ops.row_stats(x, k)
    assert torch.allclose(lse, x.logsumexp(-1), atol=1e-5)
    assert torch.allclose(top, x.topk(k, -1).values.mean(-1), atol=1e-5)
    assert torch.equal(arg, x.argmax(-1)) and arg[0] == 0


@pytest.fixture
def rebuilt(monkeypatch, tmp_path):
    """library() recomputed under the test's environment, and again afterwards."""
    monkeypatch.setenv("SIKAO_KERNELS_DIR", str(tmp_path / "kernels"))
    build.library.cache_clear()
    yield
    build.library.cache_clear()


def test_without_a_compiler_the_layers_keep_torchs_kernels(rebuilt, monkeypatch, caplog):
    monkeypatch.setenv("CXX", "/nonexistent/g++")
    if build.supported():
        assert build.library() is None
        assert "native CPU kernels unavailable (" in caplog.text
    w = torch.randn(64, 64, generator=gen)
    assert Int4Linear(w, None, 32).kernel == "torch"


def test_a_failing_build_is_tried_once_a_process(rebuilt, monkeypatch, tmp_path, caplog):
    calls = tmp_path / "calls"
    compiler = tmp_path / "g++"
    compiler.write_text(f"#!/bin/sh\necho x >> {calls}\necho 'error: no such intrinsic' >&2\n"
                        "exit 1\n")
    compiler.chmod(0o755)
    monkeypatch.setenv("CXX", str(compiler))
    if not build.supported():
        pytest.skip("no native kernels on this CPU")
    build.prebuild(lambda fraction: None)  # the loader's first attempt, with its progress bar
    tried = len(calls.read_text().splitlines())
    assert tried == len(build.SOURCES)  # each source, before the failure was known
    assert build.library() is None
    assert "g++ failed: error: no such intrinsic" in caplog.text
    assert len(calls.read_text().splitlines()) == tried  # not compiled again


def test_sikao_native_0_turns_them_off(rebuilt, monkeypatch):
    monkeypatch.setenv("SIKAO_NATIVE", "0")
    assert build.library() is None
    assert Int8Linear(torch.randn(32, 64, generator=gen), None, torch.float32).kernel == "torch"


@built
def test_the_library_is_built_once_with_progress_and_reused(rebuilt, tmp_path):
    from engine.config import EngineConfig
    from engine.loader import load

    assert build.pending()
    said = []
    load(EngineConfig(), progress=lambda message, fraction: said.append((message, fraction)))
    building = [f for m, f in said if m == "Building the CPU kernels for this CPU, once"]
    assert building[0] == 0 and building[-1] == 1 and len(building) > 3  # a step a source file
    assert building == sorted(building) and said[len(building) - 1][1] == 1  # before the model
    files = list((tmp_path / "kernels").glob("kernels-*.so"))
    assert build.library() is not None and len(files) == 1 and not build.pending()
    stamp = files[0].stat().st_mtime_ns
    build.library.cache_clear()
    assert not build.pending()  # built already: nothing to say
    assert build.library() is not None and files[0].stat().st_mtime_ns == stamp


@built
def test_a_build_keeps_only_the_newest_libraries(rebuilt, tmp_path):
    folder = tmp_path / "kernels"
    folder.mkdir()
    stale = [folder / f"kernels-old{i}.so" for i in range(build.KEEP + 2)]
    other = folder / "peak-old.so"  # another build's (benchmarks/peak.py): not this one's to drop
    for age, p in enumerate([*stale, other]):
        p.write_bytes(b"")
        os.utime(p, (1e9 - age, 1e9 - age))  # old0 the newest of them
    assert build.library() is not None
    left = sorted(p.name for p in folder.glob("kernels-*.so"))
    assert len(left) == build.KEEP and [p.name for p in stale[:build.KEEP - 1]] == left[1:]
    assert other.exists()
