"""Load a model: device and dtype chosen automatically (CUDA bf16 > MPS fp16 > CPU fp32),
overridable; our fast forward for the llama family, HF modeling for the rest; the fast model
read back as built where engine/prepared.py kept it."""
from __future__ import annotations

import ctypes
import importlib
import os
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import nn

from engine import prepared
from engine.cpu import build
from engine.config import EngineConfig
from engine.convert import stderr_progress
from engine.errors import ModelError
from engine.model import from_hf, supports
from engine.quant import choose, quantize
from engine.resolve import resolve

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
          "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}


@dataclass
class Loaded:
    model: nn.Module  # ours on the fast path, else transformers' (both quantized as asked)
    fast: bool
    tokenizer: object
    device: torch.device
    dtype: torch.dtype
    quant: str
    name: str
    path: str
    max_len: int  # the model's context length
    eos_ids: set[int]


def pick_device(pref: str | None) -> torch.device:
    if pref:
        if pref.startswith("cuda") and not torch.cuda.is_available():
            raise ModelError("device 'cuda' asked for but no CUDA GPU is available")
        try:
            return torch.device(pref)
        except RuntimeError:
            raise ModelError(f"unknown device '{pref}' (use cpu, cuda, cuda:N or mps)") from None
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(device: torch.device, pref: str | None) -> torch.dtype:
    if pref:
        if pref not in DTYPES:
            raise ModelError(f"unknown dtype '{pref}' (use {', '.join(sorted(DTYPES))})")
        return DTYPES[pref]
    return {"cuda": torch.bfloat16, "mps": torch.float16}.get(device.type, torch.float32)


def default_threads() -> int:
    """The physical cores this process may run on (SMT siblings counted once; half the logical
    CPUs where the topology is unknown), at least one. Decode is bound by memory bandwidth, which
    a thread a core saturates; a sibling would only contend for the core. OMP_NUM_THREADS, when
    set, wins. Measured on this 2-core machine with the native step (int4, 128 tokens): idle, 391
    tok/s with 1 thread and 756 with 2 (8 forks: 1,488 and 2,552); with another process busy on
    one core, 426 and 335 (1,577 and 843), since the step's barriers wait for the thread it
    preempts. (Before the native step, each small torch op was a parallel region of its own:
    3.3 tok/s with 2 threads there, against 36 with 1.)"""
    if os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads()
    half = max(1, (os.cpu_count() or 2) // 2)
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    cores = set()
    for c in cpus:
        try:
            cores.add(Path(f"/sys/devices/system/cpu/cpu{c}/topology/thread_siblings_list")
                      .read_text().strip())
        except OSError:
            return half
    return len(cores) or half


def load(cfg: EngineConfig, progress=None) -> Loaded:
    """The model and tokenizer `cfg` names, ready to run."""
    torch.set_num_threads(cfg.threads or default_threads())
    resolved = resolve(cfg.model, progress)
    device = pick_device(cfg.device)
    dtype = pick_dtype(device, cfg.dtype)
    quant = choose(cfg.quant, device, str(resolved.path))
    if device.type == "cpu" and build.pending():  # a wait the first start alone has: say so
        say = partial(progress or stderr_progress, "Building the CPU kernels for this CPU, once")
        say(0.0)
        build.prebuild(say)
        build.library()
        say(1.0)
    kept = prepared.location(resolved.path, quant, device, dtype) if cfg.fast else None
    if kept and (built := prepared.read(kept)):
        tokenizer, fast = load_tokenizer(resolved.path, built.tokenizer_class), True
    else:
        hf_model, tokenizer = load_hf(resolved.path, device, dtype)
        fast = cfg.fast and supports(hf_model.config)
        # a build that is kept happens once: say what the wait is
        report = partial(progress or stderr_progress,
                         f"Preparing {resolved.name} for this CPU, once") if kept else None
        built = _build(hf_model, tokenizer, quant, fast, report)
        del hf_model  # what from_hf left of it
        if kept and fast:
            prepared.write(kept, built)
    trim_heap()
    eos = {tokenizer.eos_token_id, *built.eos_ids} - {None}
    return Loaded(built.model, fast, tokenizer, device, dtype, quant, resolved.name,
                  str(resolved.path), built.max_len, eos)


def load_hf(path: Path, device: torch.device, dtype: torch.dtype):
    """transformers' model and tokenizer for the model directory `path`."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars for a sub-second load are noise
    tokenizer = load_tokenizer(path)
    with _one_line(path):
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    return model.to(device).eval(), tokenizer


def load_tokenizer(path: Path, cls: str | None = None):
    """The tokenizer AutoTokenizer picks for `path`, or straight from the class it picked before
    (`module:name`): the lookup alone imports ~1 s of transformers the class does not need."""
    with _one_line(path):
        if cls:
            module, name = cls.split(":")
            try:
                return getattr(importlib.import_module(module), name).from_pretrained(path)
            except (ImportError, AttributeError):  # transformers moved it since: look it up again
                pass
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(path)


@contextmanager
def _one_line(path: Path):
    try:
        yield
    except (OSError, ValueError, KeyError) as err:
        raise ModelError(f"can't load model from {path}: {str(err).splitlines()[0]}") from None


def _build(hf_model, tokenizer, quant: str, fast: bool, progress=None) -> prepared.Prepared:
    """Our model from transformers' (fast), else theirs, quantized in place."""
    c = hf_model.config
    gen = getattr(getattr(hf_model, "generation_config", None), "eos_token_id", None)
    eos = [i for i in (gen if isinstance(gen, list) else [gen]) if i is not None]
    cls = type(tokenizer)
    if fast:
        model = from_hf(hf_model, quant, progress)
    else:
        model = hf_model
        quantize(model.get_decoder(), quant, model.dtype)  # the head stays as loaded
    return prepared.Prepared(model, f"{cls.__module__}:{cls.__qualname__}",
                             getattr(c, "max_position_embeddings", 4096), eos)


def trim_heap() -> None:
    """Hand the heap memory freed while loading back to the OS. Fusing and quantizing free the
    checkpoint's weights a layer at a time and glibc keeps what was freed: the int4 model's RSS
    once loaded varied 503-719 MB from run to run, trimmed it is 482 MB every time."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to hand back this way
        pass
