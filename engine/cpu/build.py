"""Compile the kernels (*.cpp here) for this CPU once, cache the library, load it with ctypes.

Built for this CPU into a file keyed by the sources, the flags and the CPU's features, so a cache
shared between machines never hands one a library with instructions it lacks. The kernels are
written for AVX-512 (VNNI, BF16); on CPUs with AVX2 and FMA but not those (or with
SIKAO_ISA=avx2), avx2.h stands in for them. Without a compiler, on other CPUs (ARM among them),
or with SIKAO_NATIVE=0, `library()` is None and the engine keeps torch's kernels (slower, same
results within quantization error).
"""
from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from functools import cache
from pathlib import Path

import torch

from engine.paths import kernels_dir

HERE = Path(__file__).parent
SOURCES = sorted(HERE.glob("*.cpp"))
FLAGS = ["-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", "-std=c++17"]
# The AVX2 build's: on AVX-512 CPUs without VNNI or BF16, and with SIKAO_ISA=avx2 on any (the
# tests check it there too: it is the build most laptops get)
AVX2_FLAGS = ["-march=x86-64-v3", "-mtune=native"]
ABI = 1
KEEP = 4  # libraries kept in the cache: one a version, so a developer's builds do not pile up
log = logging.getLogger(__name__)
# builds that failed in this process, by target and compiler: the loader's prebuild and then
# library() would otherwise compile a failing build twice (~10-20 s each on two cores). Only in
# this process: a failure kept on disk would also keep a passing one's (a full disk, a timeout)
# from being tried again, and leave the kernels off until the next version.
_failed: dict[tuple[Path, str], Exception] = {}

P, I, L = ctypes.c_void_p, ctypes.c_int, ctypes.c_long
SIGNATURES = {
    "sikao_int4_mm": [P, I, I, P, P, I, P, I, I],
    "sikao_int8_mm": [P, I, I, P, P, I, P, I, I],
    "sikao_prefill_attention": [P, L, L, L, P, P, P, I, I, I, I, I, I, L, L, L, P, P, L, L, I, I],
    "sikao_decode_attention": [P, L, P, P, L, P, P, P, I, I, I, I, L, L, L, P, P, I, I],
    "sikao_decode_step": [P, P, P, I, P, P, P, P, L, L, L, L, P, I, P, I],
    "sikao_row_stats": [P, I, I, I, P, P, P, I],
    "sikao_nucleus": [P, P, I, I, ctypes.c_float, ctypes.c_float, P, P, I],
    "sikao_rms_norm": [P, P, P, I, I, ctypes.c_float, I],
    "sikao_rope": [P, L, I, I, I, P, P, I],
}


def avx512() -> bool:
    """Does this build use AVX-512 (VNNI, BF16), the ISA the kernels are written in? Elsewhere,
    AVX-512 CPUs without VNNI or BF16 among them, they build for AVX2 (avx2.h)."""
    return (os.environ.get("SIKAO_ISA") != "avx2" and torch.cpu._is_avx512_supported()
            and torch.cpu._is_vnni_supported() and torch.cpu._is_avx512_bf16_supported())


def supported() -> bool:  # every CPU with AVX-512 has AVX2 and FMA too
    return (os.environ.get("SIKAO_NATIVE", "1") != "0" and torch.cpu._is_avx2_supported()
            and " fma" in _cpu_id())


def _flags() -> list[str]:
    if avx512():
        return FLAGS
    return [g for f in FLAGS for g in (AVX2_FLAGS if f == "-march=native" else [f])]


def _cpu_id() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return os.uname().machine
    return next((ln for ln in lines if ln.startswith("flags")), os.uname().machine)


def _run(cmd: list[str]) -> None:
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    except subprocess.CalledProcessError as e:
        errors = [ln for ln in e.stderr.splitlines() if "error" in ln] or [str(e)]
        raise RuntimeError(f"{cmd[0]} failed: {errors[0]}")


def _compiler() -> str | None:
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")


def _compile(sources: list[Path], out: Path, compiler: str | None, progress=None) -> None:
    """The sources compiled a file per core at once (one g++ for all of them took ~20 s on two
    cores, most of it in attention.cpp, prefill.cpp and matmul.cpp), then linked; `progress`
    (a fraction) as each is done."""
    if compiler is None:
        raise RuntimeError("no C++ compiler (g++) on PATH")
    out.parent.mkdir(parents=True, exist_ok=True)
    flags = [f for f in _flags() if f != "-shared"]
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".so")
    os.close(fd)
    try:  # written aside and renamed: concurrent processes never load a half-written library
        with tempfile.TemporaryDirectory(dir=out.parent) as objects, \
                ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            objs = [f"{objects}/{src.stem}.o" for src in sources]
            jobs = [pool.submit(_run, [compiler, *flags, "-c", str(src), "-o", obj])
                    for src, obj in zip(sources, objs)]
            for done, job in enumerate(as_completed(jobs), 1):
                job.result()
                if progress:
                    progress(done / (len(jobs) + 1))
            _run([compiler, *_flags(), *objs, "-o", tmp])
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _prune(folder: Path, name: str) -> None:
    """Drop all but the KEEP newest builds of `name`. A process still running an old one keeps its
    mapping; one that loads a dropped version builds it again."""
    for old in sorted(folder.glob(f"{name}-*.so"), key=lambda p: p.stat().st_mtime)[:-KEEP]:
        old.unlink(missing_ok=True)


def _target(sources: list[Path], name: str) -> Path:
    code = [f.read_text() for f in sorted([*sources, *HERE.glob("*.h")])]
    key = hashlib.sha256("\0".join([*code, *_flags(), _cpu_id()]).encode()).hexdigest()
    return kernels_dir() / f"{name}-{key[:16]}.so"


def build(sources: list[Path], name: str, progress=None) -> Path:
    """`sources` compiled for this CPU into the cache as `name`-<key>.so, once per version."""
    path, compiler = _target(sources, name), _compiler()
    if path.exists():
        return path
    key = (path, str(compiler))
    if key in _failed:
        raise _failed[key]
    try:
        _compile(sources, path, compiler, progress)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        _failed[key] = e
        raise
    _prune(path.parent, name)
    return path


def pending() -> bool:
    """Will library() compile first (~10 s on two cores), rather than load a cached build?"""
    return library.cache_info().currsize == 0 and supported() and not _target(
        SOURCES, "kernels").exists()


def prebuild(progress) -> None:
    """What library() would compile, now, with `progress` (a fraction) as it goes. A failure is
    library()'s to report."""
    try:
        build(SOURCES, "kernels", progress)
    except (OSError, RuntimeError, subprocess.TimeoutExpired):
        pass


@cache
def library() -> ctypes.CDLL | None:
    if not supported():
        return None
    try:
        path = build(SOURCES, "kernels")
        lib = ctypes.CDLL(str(path))
        if lib.sikao_abi() != ABI:
            raise RuntimeError(f"{path} is not this version's library")
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        log.warning("native CPU kernels unavailable (%s); using torch's", e)
        return None
    for name, args in SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, None
    return lib
