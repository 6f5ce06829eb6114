"""The closing table of benchmarks/speed.py: ratios against the peers and the issue's goals."""
from __future__ import annotations


def summary(r: dict, best: str, first: dict | None = None) -> str:
    hf, lc = r.get("hf", {}).get("single"), r.get("llama.cpp", {}).get("single")
    lines = [f"{'config':<10} {'1 stream':>9} {'x HF':>6} {'x l.cpp':>7} {'8 forks':>9} "
             f"{'x 1':>5} {'peak MB':>7} {'loaded':>6} {'MB/tok':>7} {'roofline':>9} {'start s':>7}"]
    bw = r.get(best, {}).get("bandwidth")
    for name, x in r.items():
        if "skipped" in x:
            lines.append(f"{name:<10} skipped: {x['skipped']}")
            continue
        one = x["single"]
        fork = x.get("fork8")
        per_tok = x.get("bytes_per_token")
        cells = [f"{name:<10}", f"{one:9.1f}", _ratio(one, hf, 6), _ratio(one, lc, 7),
                 f"{fork:9.1f}" if fork else f"{'':>9}", _ratio(fork, one, 5) if fork else " " * 5,
                 f"{x['rss']:7.0f}", f"{x['rss_loaded']:6.0f}" if "rss_loaded" in x else " " * 6,
                 f"{per_tok / 1e6:7.1f}" if per_tok else " " * 7,
                 f"{bw * 1e9 / per_tok:9.1f}" if per_tok and bw else " " * 9,
                 f"{x['startup']:7.1f}" if "startup" in x else ""]
        lines.append(" ".join(cells))
    b = r.get(best)
    if b:
        lines.append("")
        lines.append(f"goals, best CPU config = {best}:")
        if hf:
            lines.append(f"  1. vs HF generate fp32:        {b['single'] / hf:5.2f}x  (goal >= 4)")
        if lc:
            lines.append(f"  2. vs llama.cpp, same GGUF:    {b['single'] / lc:5.2f}x  (goal >= 1.0)")
        lines.append(f"  3. 8 forks aggregate / single: {b['fork8'] / b['single']:5.2f}x  (goal >= 5)")
        peak, work = b.get("peaks"), b.get("work")
        if peak and work:
            lines.append(_fork_roofline(b, peak, work))
        res = b.get("resume")
        if res:
            lines.append(f"  4. resume +200 tokens at 2000 vs 200 context: {res['2000'] * 1e3:.0f} ms / "
                         f"{res['200'] * 1e3:.0f} ms = {res['2000'] / res['200']:.2f}  (goal <= 1.3)")
            if peak and work:
                lines.append(_resume_floor(res, peak, work))
        if bw:
            per_tok = b["bytes_per_token"]
            lines.append(f"  5. roofline: {per_tok / 1e6:.1f} MB/token / {bw:.1f} GB/s = "
                         f"{per_tok / bw / 1e6:.2f} ms/token -> {bw * 1e9 / per_tok:.0f} tok/s bound; "
                         f"achieved {b['single']:.0f} tok/s ({b['single'] * per_tok / bw / 1e9:.0%})")
        lines.append("  6. memory: peak RSS of each configuration's own process (peak MB, the whole "
                     "run) and its RSS once loaded (loaded)")
        built = [f"{q} {x['startup']:.1f} s, peak {x['rss']:.0f} MB"
                 for q, x in (first or {}).items() if x]
        if built:
            lines.append("     the table's quantized starts read the model as kept (engine/prepared.py); "
                         "the first start builds it: " + "; ".join(built))
        long = b.get("long")
        if long:
            lines.append(f"  and decode after 2000 / 4000 context tokens: {long['2000']:.0f} / "
                         f"{long['4000']:.0f} tok/s ({long['2000'] / b['single']:.0%} / "
                         f"{long['4000'] / b['single']:.0%} of the 1-stream rate)")
    return "\n".join(lines)


def _fork_roofline(b: dict, peak: dict, work: dict) -> str:
    """The 8-row step is compute-bound: its matmuls at the int8-dot peak, its attention (each row
    over the prompt and, on average, half its tokens; the int8 cache's q.k at the int8-dot peak,
    its p.v at the int16-dot peak) at the two halves' rate."""
    keys = work["prompt"] + work["tokens"] / 2
    matmuls, attention = work["linear"], work["per_key"] * keys
    rate = 2 / (1 / peak["int8 dot"] + 1 / peak["int16 dot"])
    step = 8 * (matmuls / peak["int8 dot"] + attention / rate)
    bound, goal = 8 / step, 5 * b["single"]
    return (f"     compute roofline of an 8-row step: 8 x ({matmuls / 1e9:.3f} G multiply-adds in "
            f"matmuls at {peak['int8 dot'] / 1e9:.0f} G/s\n"
            f"       + {attention / 1e9:.4f} G in attention at {rate / 1e9:.0f} G/s) = "
            f"{step * 1e3:.2f} ms -> {bound:.0f} tok/s bound;\n"
            f"       achieved {b['fork8']:.0f} ({b['fork8'] / bound:.0%}), the goal needs "
            f"{goal:.0f} ({goal / bound:.0%})")


def _resume_floor(res: dict, peak: dict, work: dict) -> str:
    """What the 1,800 more keys each new token attends cost at the least: at the peak of
    prefill.cpp's products (bf16 dots, on a bf16 copy of int8 rows; fp32 FMAs on AVX2), and with
    int8 products (the int8-dot peak) for QK^T alone (PV kept in 16 bits, as SageAttention keeps
    it for accuracy) or for both."""
    extra = 200 * 1800 * work["per_key"]
    kind = "bf16 dot" if "bf16 dot" in peak else "fp32 fma"
    now, int8 = extra / peak[kind], extra / peak["int8 dot"]
    least = {"now": now, "qk": (now + int8) / 2, "int8": int8}
    ratio = {k: (res["200"] + t) / res["200"] for k, t in least.items()}
    return (f"     floor: 200 tokens x 1,800 more keys = {extra / 1e9:.1f} G multiply-adds, "
            f">= {now * 1e3:.1f} ms at the {kind} peak\n"
            f"       ({peak[kind] / 1e9:.0f} G/s): ratio >= {ratio['now']:.2f} with the "
            f"200-context resume as measured;\n"
            f"       with QK^T at the int8-dot peak ({peak['int8 dot'] / 1e9:.0f} G/s) >= "
            f"{ratio['qk']:.2f}, with PV too >= {ratio['int8']:.2f}")


def _ratio(a, b, width: int) -> str:
    return f"{a / b:{width}.2f}" if a and b else " " * width
