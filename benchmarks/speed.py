"""Engine speed, issue 3: every configuration in its own subprocess (so peak RSS is its own),
ratios from this one run.

    python benchmarks/speed.py [--tokens 256] [--threads 2] [--model default] [--only none,int4c]

Per configuration: single-stream tok/s (greedy, ~100-token prompt, `--tokens` new tokens, prefill
included), 8 branches forked from the prompt (aggregate tok/s), peak RSS, weight bytes read per
token. Peers: HF `generate()` fp32 and llama.cpp (llama-cpp-python) on the same GGUF and threads.
Then: resuming after 200 appended tokens on a 2,000- vs a 200-token context, decoding after a
2,000- and a 4,000-token context, and the rooflines: bytes per token / measured memory bandwidth
for one stream, multiply-adds / the CPU's measured peak (benchmarks/peak.py) for the compute-bound
8-row step and for the attention a longer context adds to a resume. Each quantization's first
start, which builds the model and keeps it (engine/prepared.py, in a folder of this run's), is
measured in a process of its own; the configurations' starts then read the kept model.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from functools import cache

import torch

PROMPT = ("You are a careful teacher. Explain, step by step, how a bicycle stays upright while it "
          "moves and what the rider does to steer it. Mention gyroscopic effects, the trail of the "
          "front wheel, the distribution of mass, and countersteering, and say which of them "
          "matters most at low speed and which at high speed. Finish with a short summary.")
CONFIGS = {  # name -> EngineConfig overrides
    "none": {"quant": "none"}, "int8": {"quant": "int8"}, "int4": {"quant": "int4"},
    "int8c": {"quant": "int8", "compile": True}, "int4c": {"quant": "int4", "compile": True},
    "int4py": {"quant": "int4"},
}
# decoding through Transformer.forward's per-layer Python, not engine/cpu/step.cpp's single call:
# the path of models whose layers are not all on the native kernels
PYTHON_STEP = {"int4py"}
BEST = "int4"  # eager: its step is one native call, far ahead of the compiled one (681 vs 218 tok/s)


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM where there is one: a child's ru_maxrss starts from its
    parent's."""
    try:
        with open("/proc/self/status") as f:
            return next(int(ln.split()[1]) for ln in f if ln.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def ours(name: str, args) -> dict:
    from engine import LLM, EngineConfig, SamplingParams

    started = time.perf_counter()
    llm = LLM(EngineConfig(model=args.model, threads=args.threads, **CONFIGS[name]))
    if name in PYTHON_STEP:
        llm.runner.native = None
    ids = llm.encode(PROMPT)
    greedy = SamplingParams(temperature=0, max_tokens=args.tokens, ignore_eos=True)
    llm.prefix.budget = 0  # every run prefills its prompt: like the peers
    forked(llm, ids, 1, SamplingParams(temperature=0, max_tokens=8, ignore_eos=True))
    startup = time.perf_counter() - started  # load, and for a compiled step the compile
    loaded = rss_mb()
    for n in (1, 8):  # warm-up at full length (a compiled step finishes its lazy work here)
        forked(llm, ids, n, greedy)
    single = best_of(args.repeat, lambda: forked(llm, ids, 1, greedy))
    branches = best_of(args.repeat, lambda: forked(llm, ids, 8, greedy))
    out = {"single": single, "fork8": branches, "rss": peak_rss_mb(), "startup": startup,
           "rss_loaded": loaded,
           "bytes_per_token": weight_bytes(llm.model),
           "work": {**multiply_adds(llm.model), "prompt": len(ids), "tokens": args.tokens}}
    if name == BEST:
        out["resume"] = {n: resume(llm, n) for n in (200, 2000)}
        long_decode(llm, 4000)  # warm-up: the first pass at a length grows the caches
        out["long"] = {n: best_of(args.repeat, lambda n=n: long_decode(llm, n))
                       for n in (2000, 4000)}
    return out


def first_start(quant: str, args) -> dict:
    """A start with nothing kept (engine/prepared.py): transformers' model loaded, ours built
    from it and kept for the starts that follow."""
    from engine import LLM, EngineConfig

    started = time.perf_counter()
    LLM(EngineConfig(model=args.model, threads=args.threads, quant=quant))
    return {"startup": time.perf_counter() - started, "rss": peak_rss_mb()}


def forked(llm, ids, n: int, params) -> float:
    """tok/s of n branches forked from one prefill of `ids`, aggregated."""
    started = time.perf_counter()
    sid = llm.add(ids, params)
    sids = [sid, *llm.fork(sid, n - 1)] if n > 1 else [sid]
    while llm.has_running():
        llm.step()
    assert all(len(llm.seq(s).output_ids) == params.max_tokens for s in sids)
    for s in sids:
        llm.drop(s)
    return n * params.max_tokens / (time.perf_counter() - started)


@cache
def filler(llm) -> list[int]:
    """~4,500 tokens of list text: the long contexts' prompt (encoded once)."""
    return llm.encode(" ".join(f"item {i} is on shelf {i % 7}." for i in range(420)))


def resume(llm, context: int) -> float:
    """Seconds from appending 200 tokens to a live `context`-token sequence to its next token."""
    from engine import SamplingParams

    filler_ids = filler(llm)
    one = SamplingParams(temperature=0, max_tokens=1, ignore_eos=True)
    times = []
    for _ in range(3):
        sid = llm.add(filler_ids[:context], one)
        while llm.has_running():
            llm.step()
        started = time.perf_counter()
        llm.append(sid, filler_ids[context:context + 200], one)
        while llm.has_running():
            llm.step()
        times.append(time.perf_counter() - started)
        llm.drop(sid)
    return min(times)


def long_decode(llm, context: int) -> float:
    """Single-stream decode tok/s after a `context`-token prompt (a long thought's speed), 64
    tokens, the prefill not counted."""
    from engine import SamplingParams

    sid = llm.add(filler(llm)[:context], SamplingParams(temperature=0, max_tokens=64,
                                                        ignore_eos=True))
    llm.step()  # the prefill and the first token
    started = time.perf_counter()
    while llm.has_running():
        llm.step()
    llm.drop(sid)
    return 63 / (time.perf_counter() - started)


def weight_bytes(model) -> int:
    """Bytes a decode step reads: every weight except the embedding table (one row a token) and
    the rope tables, unless the lm_head shares it."""
    head = {t.data_ptr() for t in [*model.lm_head.parameters(), *model.lm_head.buffers()]}
    skip = {t.data_ptr() for t in [*model.embed.parameters(), *model.embed.buffers(), model.cos,
                                    model.sin, model.inv_freq]} - head
    held = {t.data_ptr(): t.numel() * t.element_size()
            for t in [*model.parameters(), *model.buffers()]}
    return sum(b for p, b in held.items() if p not in skip)


def multiply_adds(model) -> dict:
    """A token's multiply-adds: in the linear layers and the head, and in attention per key."""
    a = model.a
    qkv, o = a.dim * (a.n_heads + 2 * a.n_kv_heads) * a.head_dim, a.n_heads * a.head_dim * a.dim
    return {"linear": a.n_layers * (qkv + o + 3 * a.dim * a.hidden) + a.dim * a.vocab,
            "per_key": 2 * a.n_layers * a.n_heads * a.head_dim}  # q.k and p.v


def hf(args) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from decode import hf_generate  # benchmarks/decode.py
    from engine.resolve import resolve

    path = resolve(args.model).path
    ids = AutoTokenizer.from_pretrained(path).encode(PROMPT)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    hf_generate(model, ids, 8)
    return {"single": best_of(args.repeat, lambda: hf_generate(model, ids, args.tokens)),
            "rss": peak_rss_mb()}


def llama_cpp(args) -> dict:
    try:
        import llama_cpp as lc
    except ImportError:
        return {"skipped": "llama-cpp-python is not installed (pip install llama-cpp-python)"}
    from transformers import AutoTokenizer

    from engine.resolve import bundled_gguf, resolve

    gguf = str(bundled_gguf()) if args.model == "default" else args.model
    ids = AutoTokenizer.from_pretrained(resolve(args.model).path).encode(PROMPT)
    llm = lc.Llama(model_path=gguf, n_threads=args.threads, n_ctx=1024, verbose=False)

    def run(n):
        llm.reset()
        started, got = time.perf_counter(), 0
        for _ in llm.generate(ids, top_k=1, temp=0.0, reset=True):
            got += 1
            if got == n:
                break
        return n / (time.perf_counter() - started)

    run(8)
    return {"single": best_of(args.repeat, lambda: run(args.tokens)), "rss": peak_rss_mb()}


def bandwidth() -> float:
    """Read bandwidth in GB/s: the best of a few sums over a 512 MB tensor."""
    x = torch.ones(128 << 20)
    x.sum()
    best = min(_timed(x.sum) for _ in range(5))
    return x.numel() * 4 / best / 1e9


def _timed(f) -> float:
    started = time.perf_counter()
    f()
    return time.perf_counter() - started


def best_of(n: int, f) -> float:
    return max(f() for _ in range(n))


def child(which: str, args) -> None:
    torch.set_num_threads(args.threads)
    if which.startswith("first:"):
        result = first_start(which[6:], args)
    elif which in ("hf", "llama.cpp"):
        result = hf(args) if which == "hf" else llama_cpp(args)
    else:
        result = ours(which, args)
    if which == BEST:
        from peak import peaks  # benchmarks/peak.py

        result["bandwidth"] = bandwidth()
        result["peaks"] = peaks(args.threads)
    print("RESULT " + json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default="default")
    ap.add_argument("--repeat", type=int, default=2, help="runs per measurement; the best counts")
    ap.add_argument("--rounds", type=int, default=1, help="passes over all configurations")
    ap.add_argument("--only", default=None, help="comma-separated: hf,llama.cpp," + ",".join(CONFIGS))
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args)
    names = args.only.split(",") if args.only else ["hf", "llama.cpp", *CONFIGS]
    print(f"load average {os.getloadavg()[0]:.2f} · {args.threads} threads · {args.tokens} new "
          f"tokens · greedy", flush=True)
    results, first = {}, {}
    with tempfile.TemporaryDirectory() as kept:
        os.environ["SIKAO_PREPARED_DIR"] = kept  # the children's: each quantization built once
        for quant in sorted({CONFIGS[n]["quant"] for n in names if n in CONFIGS} - {"none"}):
            first[quant] = run_child(f"first:{quant}", args)
        for _ in range(args.rounds):  # rounds interleave the configurations: a burst of load from
            for name in names:  # elsewhere spoils one round of one configuration, not all of them
                got = run_child(name, args)
                if got is not None:
                    results[name] = merge(results.get(name), got)
    report(results, first)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


def run_child(name: str, args) -> dict | None:
    cmd = [sys.executable, __file__, "--child", name, *sys.argv[1:]]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        print(f"{name}: failed\n{done.stderr[-2000:]}", flush=True)
        return None
    got = json.loads(line[7:])
    print(f"  {name:<10} {json.dumps(got)}", flush=True)
    return got


def merge(old: dict | None, new: dict) -> dict:
    """The better of two rounds, measure by measure (speeds up, times and memory down)."""
    if old is None:
        return new
    out = dict(new)
    for key, value in new.items():
        if key in ("single", "fork8", "bandwidth"):
            out[key] = max(old[key], value)
        elif key == "peaks" and value and old.get(key):
            out[key] = {k: max(old[key][k], v) for k, v in value.items()}
        elif key == "resume":
            out[key] = {n: min(old[key][n], t) for n, t in value.items()}
        elif key == "long":
            out[key] = {n: max(old[key][n], t) for n, t in value.items()}
        elif isinstance(value, float):
            out[key] = min(old[key], value)
    return out


def report(r: dict, first: dict) -> None:
    from report import summary  # benchmarks/report.py

    print(summary(r, BEST, first))


if __name__ == "__main__":
    main()
