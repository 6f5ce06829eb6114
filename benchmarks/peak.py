"""The CPU's multiply-add ceilings (benchmarks/peak.cpp), for the compute-bound parts of a step:
int8 dot products (vpdpbusd: the int4/int8 matmuls, decode attention's q.k over int8 KV rows), bf16
pair dots (vdpbf16ps: prefill attention), fp32 FMAs and int16 pair dots (vpdpwssd: decode
attention's p.v over int8 KV rows), in multiply-adds a second over `threads` threads."""
from __future__ import annotations

import ctypes
from pathlib import Path

from engine.cpu.build import avx512, build, supported

KINDS = {"int8 dot": 0, "bf16 dot": 1, "fp32 fma": 2, "int16 dot": 3}


def peaks(threads: int, seconds: float = 0.3) -> dict[str, float] | None:
    """None where the kernels build without peak.cpp's instructions (AVX512-VNNI/BF16: on AVX2
    they run avx2.h's stand-ins, whose rates these are not) or there is no compiler."""
    if not (supported() and avx512()):
        return None
    try:
        lib = ctypes.CDLL(str(build([Path(__file__).with_name("peak.cpp")], "peak")))
    except (OSError, RuntimeError):
        return None
    fn = lib.sikao_peak
    fn.argtypes, fn.restype = [ctypes.c_int, ctypes.c_int, ctypes.c_double], ctypes.c_double
    return {name: max(fn(kind, threads, seconds) for _ in range(2)) for name, kind in KINDS.items()}


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    got = peaks(ap.parse_args().threads)
    if got is None:
        raise SystemExit("peak: needs AVX512-VNNI/BF16 and a C++ compiler")
    for name, rate in got.items():
        print(f"{name:<9} {rate / 1e9:7.1f} G multiply-adds/s")
