"""GGUF → safetensors cache, once per file content.

transformers can read a GGUF directly but de-quantizes on every load (~30 s for the bundled model);
converting once and loading the cached safetensors takes well under a second afterwards. The cache
is keyed by the GGUF's SHA-256, written to a temporary directory and renamed into place, so an
interrupted conversion never leaves a half-written model behind.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Callable

from engine.errors import ModelError
from engine.paths import models_dir

Progress = Callable[[str, float], None]  # (message, fraction done 0..1)


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()[:20]


def stderr_progress(message: str, fraction: float) -> None:
    bar = "█" * int(fraction * 30)
    print(f"\r\033[K{message} [{bar:<30}] {fraction:4.0%}", end="" if fraction < 1 else "\n",
          file=sys.stderr, flush=True)


def convert_gguf(gguf: Path, progress: Progress | None = None) -> Path:
    try:
        key = file_hash(gguf)
    except OSError as err:
        raise ModelError(f"can't read {gguf}: {err.strerror}") from None
    target = models_dir() / f"{gguf.stem}-{key}"
    if (target / "config.json").is_file():
        return target
    progress = progress or stderr_progress
    try:
        _convert(gguf, target, progress)
    except ModelError:
        raise
    except Exception as err:  # a broken or unsupported GGUF: transformers raises many types
        raise ModelError(f"can't convert {gguf.name}: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    return target


def _convert(gguf: Path, target: Path, progress: Progress) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    started = time.monotonic()
    label = f"Converting {gguf.name} once"
    progress(f"{label}: tokenizer", 0.05)
    for stale in target.parent.glob(target.name + ".tmp*"):  # a conversion killed midway
        shutil.rmtree(stale, ignore_errors=True)
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    hf_logging.disable_progress_bar()  # ours below is the one bar; transformers' would interleave
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    progress(f"{label}: de-quantizing weights", 0.25)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype="auto")
    progress(f"{label}: writing safetensors", 0.85)
    # The loaded model still carries the GGUF "quantizer" although its weights are plain floats;
    # transformers refuses to save it until that marker is removed.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.replace(target)
    progress(f"{label}: done in {time.monotonic() - started:.0f} s", 1.0)
