"""The fast model as built for this machine (fused, quantized, packed for its kernels), kept on
disk so that later starts map it back instead of building it.

Building loads transformers' model in full precision, then fuses, quantizes, packs and checks
every layer. For the bundled model `LLM()` takes 2.8 s that way and its process peaks at 1.43 GB;
from the kept file (mapped in ~0.03 s, and the tokenizer loaded without AutoTokenizer's lookup) it
takes 1.2 s and peaks at 375 MB (VmHWM, 8 tokens decoded).

The file is a pickle of our own modules (torch.save), written and read only by sikao. Its name
carries a hash of what the build depended on: the weight files, the quantization, the dtype,
the engine's code, torch's version and the CPU's flags. So a file is only read back by the code
that wrote it, on a CPU like the one that packed and checked it. A model keeps its newest file
only, and the folder the KEEP models read or built last. Kept for quantized models on CPU, where
building costs most and the file is about a quarter of the fp32 weights: unquantized, it would be
a second copy of them.
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import logging
import os
import pickle
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from engine.cpu import build
from engine.paths import prepared_dir

ENGINE = Path(__file__).parent
KEEP = 8
STALE = 3600  # seconds after which a half-written file is taken as abandoned
log = logging.getLogger(__name__)


@dataclass
class Prepared:
    model: nn.Module  # engine.model.Transformer
    tokenizer_class: str  # "module:name" of the class AutoTokenizer picked for the model
    max_len: int  # the model's context length
    eos_ids: list[int]  # what the generation config stops at, beside the tokenizer's EOS


def location(path: Path, quant: str, device: torch.device, dtype: torch.dtype) -> Path | None:
    """Where the model at `path` built this way is kept; None where it is not kept."""
    if device.type != "cpu" or quant == "none":
        return None
    weights = sorted([*path.glob("*.safetensors"), *path.glob("*.bin"), path / "config.json"])
    stamps = [(f.name, f.stat()) for f in weights]
    code = sorted(f for f in ENGINE.rglob("*") if f.suffix in (".py", ".cpp", ".h"))
    digest = hashlib.sha256()
    for part in [*(f"{name}:{st.st_size}:{st.st_mtime_ns}" for name, st in stamps),
                 quant, str(dtype), torch.__version__, build._cpu_id(),
                 str(build.library() is not None)]:
        digest.update(part.encode() + b"\0")
    for f in code:
        digest.update(f.read_bytes())
    return prepared_dir() / f"{_stem(path, quant, dtype)}-{digest.hexdigest()[:16]}.pt"


def read(file: Path) -> Prepared | None:
    try:
        # mapped, not copied: the weights' pages come from the page cache, shared by processes
        prepared = torch.load(file, weights_only=False, mmap=True)
    except FileNotFoundError:
        return None
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as err:
        # a file cut short (a full disk, say): build the model again
        log.warning("can't read the prepared model %s (%s); building it again", file, err)
        return None
    if not isinstance(prepared, Prepared):
        return None
    with contextlib.suppress(OSError):  # recently used: the last to be dropped
        os.utime(file)
    return prepared


def write(file: Path, prepared: Prepared) -> None:
    """Save `prepared` as `file`, dropping the model's older files and all but the KEEP newest;
    failing to is only logged."""
    tmp = file.with_name(f"{file.name}.tmp{os.getpid()}")
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        for stale in file.parent.glob("*.pt.tmp*"):  # left by a process killed while writing
            if time.time() - _mtime(stale) > STALE:
                stale.unlink(missing_ok=True)
        torch.save(prepared, tmp)
        os.replace(tmp, file)  # a reader never sees half a file
        stem = file.name.rsplit("-", 1)[0]
        for old in file.parent.glob(f"{glob.escape(stem)}-*.pt"):
            if old != file:
                old.unlink(missing_ok=True)
        for old in sorted(file.parent.glob("*.pt"), key=_mtime)[:-KEEP]:
            old.unlink(missing_ok=True)
    except (OSError, RuntimeError) as err:  # torch.save's writer raises RuntimeError on a full disk
        log.warning("can't keep the prepared model in %s: %s", file.parent, err)
    finally:
        tmp.unlink(missing_ok=True)


def _mtime(file: Path) -> float:
    try:
        return file.stat().st_mtime
    except OSError:  # dropped meanwhile by another process
        return 0.0


def _stem(path: Path, quant: str, dtype: torch.dtype) -> str:
    # the model's folder's name and a hash of its full path: two models of one name stay apart
    where = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
    return f"{path.name}-{where}-{quant}-{str(dtype).removeprefix('torch.')}"
