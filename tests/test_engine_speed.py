"""The fast path's bounds: chunked prefill computes what one pass does with bounded peak memory,
the two decode paths agree, the cache grows and keeps what it held."""
import subprocess
import sys

import torch

from engine import SamplingParams

PEAK = """
import sys, torch
from engine import LLM, EngineConfig

def status(key):  # kB
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(key + ":"))

llm = LLM(EngineConfig(quant="none"))  # fp32: the largest activations per token
llm.runner.chunk = int(sys.argv[1])
ids = [(i * 7919) % 20000 + 100 for i in range(1200)]
llm.runner._ensure(2, 1300)  # the KV cache itself is not what is measured
llm.runner.prefill(1, ids[:300], 0)  # warm the allocator and kernels at this chunk size
# Reset the high-water mark (Linux clear_refs 5): loading the model peaks higher than a prefill.
open("/proc/self/clear_refs", "w").write("5")
before = status("VmRSS")
llm.runner.prefill(0, ids, 0)
print((status("VmHWM") - before) // 1024)
"""


def peak_mb(chunk: int) -> int:
    out = subprocess.run([sys.executable, "-c", PEAK, str(chunk)], capture_output=True, text=True,
                         timeout=300, check=True)
    return int(out.stdout.split()[-1])


def test_chunked_prefill_keeps_peak_memory_bounded():
    chunked, whole = peak_mb(128), peak_mb(4096)
    assert chunked <= 12, (chunked, whole)  # a 128-token chunk's activations, whatever the length
    assert whole >= chunked + 20, (chunked, whole)  # the same prompt in one pass: ~10x as much


def test_chunked_prefill_equals_one_pass(exact_llm):
    llm = exact_llm
    ids = llm.encode("The quick brown fox jumps over the lazy dog. " * 30)
    runner, chunk = llm.runner, llm.runner.chunk
    try:
        runner.chunk = 4096
        whole = runner.prefill(7, ids, 0)
        kv_whole = runner.read(7, len(ids))
        runner.chunk = 50
        parts = runner.prefill(7, ids, 0)
        kv_parts = runner.read(7, len(ids))
    finally:
        runner.chunk = chunk
        runner.release(7)
    assert torch.allclose(whole, parts, atol=1e-3, rtol=1e-4)
    assert torch.allclose(kv_whole, kv_parts, atol=1e-4, rtol=1e-4)


def test_mixed_lengths_and_one_length_decode_alike(exact_llm):
    llm = exact_llm
    # rows of one length take the slice-write path; a ragged batch the scatter-and-mask path
    greedy = SamplingParams(temperature=0, max_tokens=10, ignore_eos=True)
    same = llm.generate(["Water boils at", "Water boils at"], greedy)
    ragged = llm.generate(["Water boils at", "In a distant galaxy, long ago, there was"], greedy)
    assert same[0].token_ids == same[1].token_ids == ragged[0].token_ids


def test_cache_grows_for_long_sequences_and_keeps_what_it_held(llm):
    from engine.runner import FastRunner

    runner = FastRunner(llm.model, llm.device)
    short = llm.encode("one two three")
    runner.prefill(0, short, 0)
    held = runner.read(0, len(short))
    ids = llm.encode("one two three four five six seven eight nine ten " * 60)  # > 2x the cache
    assert runner.k.dtype == llm.model.kv_dtype
    assert len(ids) > runner.k.shape[3]
    logits = runner.prefill(1, ids, 0)
    assert runner.k.shape[3] > len(ids)
    assert torch.equal(runner.read(0, len(short)), held)
    cache = runner.k
    for i in range(100):  # the decode steps after a long prompt do not grow (copy) it again
        runner.decode([1], [ids[0]], [len(ids) + i])
    assert runner.k is cache
    assert torch.allclose(logits, llm.runner.prefill(5, ids, 0), atol=1e-4)
    llm.runner.release(5)


def test_cache_stops_growing_at_the_context(llm):
    from engine.runner import FastRunner

    ids = llm.encode("one two three four five six seven eight nine ten " * 30)
    runner = FastRunner(llm.model, llm.device, max_len=len(ids) + 300)
    runner.prefill(0, ids, 0)
    assert runner.k.shape[3] == len(ids) + 1 + 256  # a long prompt's room to decode, below it
    runner.decode([0], [ids[0]], [len(ids) + 290])  # doubling would pass the context
    assert runner.k.shape[3] == len(ids) + 302
