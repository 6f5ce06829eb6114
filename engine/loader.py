"""Load a resolved model: device and dtype chosen automatically (CUDA bf16 > MPS fp16 > CPU fp32),
overridable; our fast forward for the llama family, HF modeling for the rest."""
from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.config import EngineConfig
from engine.errors import ModelError
from engine.resolve import resolve

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
          "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}


@dataclass
class Loaded:
    hf_model: object
    tokenizer: object
    device: torch.device
    dtype: torch.dtype
    name: str
    path: str


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
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(cfg.threads or default_threads())
    resolved = resolve(cfg.model, progress)
    device = pick_device(cfg.device)
    dtype = pick_dtype(device, cfg.dtype)
    hf_logging.disable_progress_bar()  # "Loading weights" bars for a sub-second load are noise
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved.path)
        model = AutoModelForCausalLM.from_pretrained(resolved.path, dtype=dtype)
    except (OSError, ValueError, KeyError) as err:
        raise ModelError(f"can't load model from {resolved.path}: {str(err).splitlines()[0]}") from None
    model.to(device).eval()
    return Loaded(model, tokenizer, device, dtype, resolved.name, str(resolved.path))


def trim_heap() -> None:
    """Hand the heap memory freed while loading back to the OS. Fusing and quantizing free the
    checkpoint's weights a layer at a time and glibc keeps what was freed: the int4 model's RSS
    once loaded varied 503-719 MB from run to run, trimmed it is 482 MB every time."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to hand back this way
        pass
