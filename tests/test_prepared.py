"""The model as built, kept on disk (engine/prepared.py): read back instead of built, the same
model once read, rebuilt when the file is damaged or the build's inputs change, and bounded."""
import os
import subprocess
import sys
import time

import pytest
import torch

from engine import LLM, EngineConfig, SamplingParams, loader, prepared
from engine.paths import prepared_dir
from engine.resolve import resolve

GREEDY = SamplingParams(temperature=0, max_tokens=12, ignore_eos=True)
PROMPT = "The capital of France is"


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("SIKAO_PREPARED_DIR", str(tmp_path / "prepared"))
    return tmp_path / "prepared"


def _no_build(monkeypatch):
    def refuse(*args):
        raise AssertionError("built the model although it was kept")

    monkeypatch.setattr(loader, "load_hf", refuse)


def test_a_kept_model_is_read_back_and_runs_the_same(fresh, monkeypatch):
    built = LLM(EngineConfig(quant="int4"))
    [file] = fresh.glob("*.pt")
    want = built.generate([PROMPT], GREEDY)[0]
    _no_build(monkeypatch)
    read = LLM(EngineConfig(quant="int4"))
    got = read.generate([PROMPT], GREEDY)[0]
    assert got.token_ids == want.token_ids and got.logprobs == want.logprobs
    assert read.fast and read.quant == "int4" and read.eos_ids == built.eos_ids
    assert read.max_model_len == built.max_model_len
    kinds = {n: type(m).__name__ for n, m in read.model.named_modules()}
    assert kinds == {n: type(m).__name__ for n, m in built.model.named_modules()}
    assert read.model.embed.table is read.model.lm_head  # tied weights still held once
    assert list(fresh.glob("*.pt")) == [file]


def test_the_tokenizer_from_the_kept_class_is_autotokenizers(llm):
    from transformers import AutoTokenizer

    path = resolve("default").path
    auto = AutoTokenizer.from_pretrained(path)
    cls = type(auto)
    direct = loader.load_tokenizer(path, f"{cls.__module__}:{cls.__qualname__}")
    text = "Tokens: 快速的棕色狐狸 <think> 2 + 2 = 4 </think>"
    assert direct.encode(text) == auto.encode(text)
    chat = [{"role": "user", "content": text}]
    assert (direct.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
            == auto.apply_chat_template(chat, tokenize=False, add_generation_prompt=True))
    moved = loader.load_tokenizer(path, "transformers.no_such_module:Gone")  # looked up again
    assert moved.encode(text) == auto.encode(text)


def test_each_quantization_is_kept_apart_and_a_model_keeps_its_newest(fresh, monkeypatch):
    LLM(EngineConfig(quant="int4"))
    LLM(EngineConfig(quant="int8"))
    files = sorted(f.name for f in fresh.glob("*.pt"))
    assert len(files) == 2 and "-int4-" in files[0] and "-int8-" in files[1]
    # the engine's code changes: a new key, and the int8 model's older file goes
    monkeypatch.setattr(prepared.build, "_cpu_id", lambda: "flags : a CPU with other flags")
    LLM(EngineConfig(quant="int8"))
    now = sorted(f.name for f in fresh.glob("*.pt"))
    assert len(now) == 2 and now[0] == files[0] and now[1] != files[1]


def test_the_folder_keeps_only_the_newest(fresh, monkeypatch):
    model = LLM(EngineConfig(quant="int8")).model
    monkeypatch.setattr(prepared, "KEEP", 3)
    for i in range(5):
        prepared.write(fresh / f"model{i}-int8-float32-{i:016x}.pt",
                       prepared.Prepared(model, "m:c", 8, []))
    assert sorted(f.name[:6] for f in fresh.glob("*.pt")) == ["model2", "model3", "model4"]


def test_a_damaged_file_is_built_again(fresh, caplog):
    LLM(EngineConfig(quant="int4"))
    [file] = fresh.glob("*.pt")
    size = file.stat().st_size
    file.write_bytes(file.read_bytes()[:size // 2])  # cut short, as by a full disk
    llm = LLM(EngineConfig(quant="int4"))
    assert "can't read the prepared model" in caplog.text
    assert file.stat().st_size == size  # built and kept again
    assert llm.generate([PROMPT], GREEDY)[0].token_ids


def test_what_is_not_kept(fresh):
    path = resolve("default").path
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert prepared.location(path, "none", cpu, torch.float32) is None  # a copy of the weights
    assert prepared.location(path, "int4", cuda, torch.bfloat16) is None
    assert prepared.location(path, "int4", cpu, torch.float32).parent == prepared_dir()
    LLM(EngineConfig(quant="none"))
    LLM(EngineConfig(quant="int4", fast=False))  # transformers' modules: not ours to pickle
    assert not fresh.exists() or not list(fresh.glob("*.pt"))


def test_a_start_from_the_kept_model_holds_a_third_of_the_memory(fresh):
    """Peak RSS of a process that loads the model and decodes 8 tokens: built (transformers'
    fp32 model, then fused and quantized a layer at a time) against read back."""
    # VmHWM, not ru_maxrss: a child's ru_maxrss starts from the forking parent's (pytest's)
    script = ("import re; from engine import LLM, SamplingParams; "
              "LLM().generate(['Hi'], SamplingParams(max_tokens=8)); "
              "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1])")
    peaks = [int(subprocess.run([sys.executable, "-c", script], check=True,
                                capture_output=True, text=True).stdout) // 1024
             for _ in range(2)]
    assert len(list(fresh.glob("*.pt"))) == 1
    assert peaks[1] < peaks[0] / 2.5, peaks  # measured: 1,432 against 375 MB


@pytest.mark.parametrize("family", ["llama", "qwen2", "qwen3"])
def test_each_family_reads_back_to_the_same_logits(family, fresh):
    """qkv biases (qwen2), q/k norms (qwen3) and an untied head (llama here) survive the file."""
    from engine.model import from_hf
    from engine.runner import FastRunner
    from tests.test_engine_families import tiny

    built = from_hf(tiny(family), "int4")
    prepared.write(fresh / f"tiny-{family}-0000000000000000.pt",
                   prepared.Prepared(built, "m:c", 1024, [2]))
    read = prepared.read(fresh / f"tiny-{family}-0000000000000000.pt")
    assert read.max_len == 1024 and read.eos_ids == [2]
    logits = []
    for model in (built, read.model):
        runner = FastRunner(model, torch.device("cpu"))
        first = runner.prefill(0, list(range(3, 19)), 0)
        logits.append(torch.stack([first, runner.decode([0], [7], [16])[0]]))
    assert torch.equal(*logits)


def test_a_file_that_cannot_be_written_is_only_a_warning(fresh, monkeypatch, caplog):
    def full(obj, f):  # what torch.save raises on a full disk
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")

    monkeypatch.setattr(prepared.torch, "save", full)
    llm = LLM(EngineConfig(quant="int4"))
    assert "can't keep the prepared model" in caplog.text
    assert llm.generate([PROMPT], GREEDY)[0].token_ids
    assert not list(fresh.glob("*"))  # nor a half-written file left behind


def test_a_file_left_half_written_is_cleared_once_stale(fresh):
    fresh.mkdir()
    old, new = fresh / "m-int4-float32-0.pt.tmp123", fresh / "m-int4-float32-1.pt.tmp456"
    for f in (old, new):
        f.write_bytes(b"half a file")
    os.utime(old, (time.time() - 2 * prepared.STALE,) * 2)
    LLM(EngineConfig(quant="int4"))  # builds and keeps: the folder is tidied first
    assert not old.exists() and new.exists()  # the recent one may be another process's


def test_a_build_that_is_kept_shows_its_progress(fresh):
    seen = []
    LLM(EngineConfig(quant="int4"), progress=lambda message, fraction: seen.append((message, fraction)))
    assert seen and all("for this CPU, once" in message for message, _ in seen)
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    seen.clear()
    LLM(EngineConfig(quant="int4"), progress=lambda message, fraction: seen.append((message, fraction)))
    assert seen == []  # read back: nothing to wait for
