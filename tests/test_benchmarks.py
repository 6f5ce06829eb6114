"""benchmarks/peak.py measures the instruction ceilings of the build this CPU runs (AVX-512's, and
AVX2's), and benchmarks/report.py draws issue 3's floors from them."""
import importlib.util
from pathlib import Path

import pytest

from engine.cpu.build import avx512
from tests.kernels import native


def load(name: str):  # benchmarks/ is scripts, not a package: its modules by path
    spec = importlib.util.spec_from_file_location(
        f"benchmarks_{name}", Path(__file__).parents[1] / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


peaks, summary = load("peak").peaks, load("report").summary


@native
def test_peaks_are_the_builds_own_instruction_rates():
    got = peaks(2, seconds=0.05)
    assert set(got) == {"int8 dot", "fp32 fma", "int16 dot"} | ({"bf16 dot"} if avx512() else set())
    assert all(rate > 1e9 for rate in got.values())
    # 4x the FMA's products an instruction (AVX-512: 64 / 16, AVX2: 32 / 8), issued at least half
    # as often on every CPU we know of
    assert got["int8 dot"] >= 1.5 * got["fp32 fma"]


@pytest.mark.parametrize("peak, kind", [
    ({"int8 dot": 400e9, "fp32 fma": 100e9, "int16 dot": 200e9}, "fp32 fma"),
    ({"int8 dot": 800e9, "bf16 dot": 400e9, "fp32 fma": 200e9, "int16 dot": 400e9}, "bf16 dot")])
def test_report_draws_the_floors_from_the_prefill_products_peak(peak, kind):
    work = {"linear": 134_479_872, "per_key": 34_560, "prompt": 74, "tokens": 256}
    best = {"single": 250.0, "fork8": 750.0, "rss": 450, "rss_loaded": 380,
            "bytes_per_token": 95e6, "bandwidth": 35.0, "work": work, "peaks": peak,
            "resume": {"200": 0.2, "2000": 0.4}}
    text = summary({"hf": {"single": 20.0, "rss": 900}, "int4": best}, "int4")
    extra = 200 * 1800 * 34_560
    assert f"12.4 G multiply-adds, >= {extra / peak[kind] * 1e3:.1f} ms at the {kind} peak" in text
    assert f"ratio >= {(0.2 + extra / peak[kind]) / 0.2:.2f} with the 200-context resume" in text
    assert "compute roofline of an 8-row step" in text and "goal needs 1250" in text
