"""The CPU's multiply-add ceilings (benchmarks/peak.cpp), for the compute-bound parts of a step:
int8 dot products (vpdpbusd: the int4/int8 matmuls, decode attention's q.k over int8 KV rows), bf16
pair dots (vdpbf16ps: prefill attention), fp32 FMAs and int16 pair dots (vpdpwssd: decode
attention's p.v over int8 KV rows), in multiply-adds a second over `threads` threads. On AVX2 the
kernels' own instructions instead: vpmaddubsw's int8 products (which the matmuls sum further in
int16), 256-bit FMAs (prefill attention's: no bf16 there) and vpmaddwd's int16 products."""
from __future__ import annotations

import ctypes
from pathlib import Path

from engine.cpu.build import avx512, build, supported

KINDS = {"int8 dot": 0, "bf16 dot": 1, "fp32 fma": 2, "int16 dot": 3}


def peaks(threads: int, seconds: float = 0.3) -> dict[str, float] | None:
    """None where the kernels are not built (no AVX2 or no compiler). No "bf16 dot" on AVX2."""
    if not supported():
        return None
    try:
        lib = ctypes.CDLL(str(build([Path(__file__).with_name("peak.cpp")], "peak")))
    except (OSError, RuntimeError):
        return None
    fn = lib.sikao_peak
    fn.argtypes, fn.restype = [ctypes.c_int, ctypes.c_int, ctypes.c_double], ctypes.c_double
    kinds = KINDS if avx512() else {k: v for k, v in KINDS.items() if k != "bf16 dot"}
    return {name: max(fn(kind, threads, seconds) for _ in range(2)) for name, kind in kinds.items()}


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    got = peaks(ap.parse_args().threads)
    if got is None:
        raise SystemExit("peak: needs AVX2 and a C++ compiler")
    for name, rate in got.items():
        print(f"{name:<9} {rate / 1e9:7.1f} G multiply-adds/s")
