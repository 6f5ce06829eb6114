"""Model resolution, conversion cache, and our forward against HF modeling."""
import time

import pytest
import torch

from engine import EngineConfig, ModelError, PromptTooLong, SamplingParams
from engine.resolve import resolve


def test_our_forward_matches_hf(exact_llm):
    from transformers import AutoModelForCausalLM

    llm = exact_llm
    hf = AutoModelForCausalLM.from_pretrained(llm.path, dtype=torch.float32).eval()
    ids = llm.encode("The quick brown fox jumps over the lazy dog. 快速的棕色狐狸")
    with torch.no_grad():
        ref = hf(torch.tensor([ids])).logits[0]
    pos = torch.arange(len(ids))[None]
    ours = llm.model(torch.tensor([ids]), pos, *_scratch_cache(llm, len(ids)), all_logits=True)[0]
    assert torch.allclose(ours, ref, atol=2e-4, rtol=1e-4), (ours - ref).abs().max()


def _scratch_cache(llm, n):
    a = llm.model.a
    k = [torch.zeros(1, a.n_kv_heads, n + 1, a.head_dim) for _ in range(a.n_layers)]
    return k, [torch.zeros_like(t) for t in k]


def test_hf_fallback_generates_the_same_tokens(exact_llm):
    from engine.llm import LLM

    llm = exact_llm
    slow = LLM(EngineConfig(fast=False, quant="none"))
    assert not slow.fast and llm.fast
    params = SamplingParams(temperature=0, max_tokens=12, ignore_eos=True)
    prompts = ["The capital of France is", "1, 2, 3, 4,"]
    assert ([o.token_ids for o in slow.generate(prompts, params)]
            == [o.token_ids for o in llm.generate(prompts, params)])
    sid = slow.add(prompts[0], params)
    kid = slow.fork(sid, 1)[0]
    while slow.has_running():
        slow.step()
    assert slow.seq(kid).output_ids == slow.seq(sid).output_ids


def test_hf_fallback_is_quantized_too(llm):
    from engine.llm import LLM
    from engine.quant import Int4Linear

    slow = LLM(EngineConfig(fast=False))
    assert slow.quant == llm.quant == "int4"
    assert isinstance(slow.model.get_decoder().layers[0].mlp.down_proj, Int4Linear)
    params = SamplingParams(temperature=0, max_tokens=4, ignore_eos=True)
    prompt = ["The capital of France is"]
    got, want = slow.generate(prompt, params)[0], llm.generate(prompt, params)[0]
    assert got.token_ids[0] == want.token_ids[0]  # " Paris", by a wide margin
    assert abs(got.logprobs[0] - want.logprobs[0]) < 0.1


def test_converted_cache_loads_fast(llm):
    started = time.monotonic()
    again = resolve("default")
    from engine.loader import load

    loaded = load(EngineConfig())
    assert time.monotonic() - started < 2.0
    assert str(again.path) == llm.path == loaded.path
    assert (again.path / "model.safetensors").is_file()


@pytest.mark.parametrize("spec, message", [
    ("nope", "unknown model 'nope'"),
    ("missing.gguf", "no such GGUF file"),
    ("/etc/hostname", "is not a .gguf file or a model directory"),
    ("/tmp", "not a Hugging Face model"),
])
def test_bad_model_specs_fail_with_one_line(spec, message):
    with pytest.raises(ModelError, match=message) as err:
        resolve(spec)
    assert "\n" not in str(err.value)


def test_hub_id_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="can't download 'someone/some-model'"):
        resolve("someone/some-model")


def test_prompt_longer_than_the_context(llm):
    with pytest.raises(PromptTooLong, match="context is"):
        llm.add(list(range(llm.max_model_len + 5)), SamplingParams())


def test_default_threads_are_the_physical_cores(monkeypatch, tmp_path):
    from engine import loader

    # four logical CPUs as two cores of two SMT siblings each, as sysfs lists them
    siblings = {0: "0,2", 1: "1,3", 2: "0,2", 3: "1,3"}
    real = loader.Path

    def path(p):
        cpu = int(str(p).split("/cpu/cpu")[1].split("/")[0])
        f = tmp_path / f"cpu{cpu}"
        f.write_text(siblings[cpu] + "\n")
        return real(f)

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(loader, "Path", path)
    monkeypatch.setattr(loader.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert loader.default_threads() == 2
    monkeypatch.setattr(loader.os, "sched_getaffinity", lambda pid: {0, 2})  # pinned to one core
    assert loader.default_threads() == 1
    monkeypatch.setattr(loader, "Path", lambda p: real(tmp_path / "missing"))  # no sysfs
    monkeypatch.setattr(loader.os, "cpu_count", lambda: 8)
    assert loader.default_threads() == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert loader.default_threads() == torch.get_num_threads()
