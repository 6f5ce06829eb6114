"""Decode speed: our engine vs HF `generate()` on the same prompt, model and token count, in one
run (ratios, not absolute numbers, are what carry across machines).

    python benchmarks/decode.py [--tokens 256] [--model default] [--batch 8] [--threads N]
                                [--quant auto|none|int8|int4] [--compile]

(benchmarks/speed.py runs every configuration against HF and llama.cpp, with memory.)
"""
from __future__ import annotations

import argparse
import time

import torch

from engine import LLM, EngineConfig, SamplingParams

PROMPT = ("Explain, step by step, how a bicycle stays upright while it moves, and what the rider "
          "does to steer it. Mention gyroscopic effects, trail, and the rider's balance.")


def ours(llm: LLM, prompt_ids: list[int], n: int, batch: int) -> float:
    params = SamplingParams(temperature=0, max_tokens=n, ignore_eos=True)
    started = time.perf_counter()
    outs = llm.generate([prompt_ids] * batch, params)
    elapsed = time.perf_counter() - started
    assert all(len(o.token_ids) == n for o in outs)
    return batch * n / elapsed


def hf_generate(hf_model, prompt_ids: list[int], n: int) -> float:
    ids = torch.tensor([prompt_ids])
    started = time.perf_counter()
    with torch.inference_mode():
        out = hf_model.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False)
    elapsed = time.perf_counter() - started
    assert out.shape[1] - len(prompt_ids) == n
    return n / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--model", default="default")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--quant", default="auto", choices=["auto", "none", "int8", "int4"])
    ap.add_argument("--compile", action="store_true", help="torch.compile the decode step")
    args = ap.parse_args()
    from transformers import AutoModelForCausalLM

    llm = LLM(EngineConfig(model=args.model, quant=args.quant, compile=args.compile,
                           threads=args.threads))  # HF runs at the count the engine set
    hf = AutoModelForCausalLM.from_pretrained(llm.path, dtype=llm.dtype).to(llm.device).eval()
    prompt_ids = llm.encode(PROMPT)
    llm.prefix.budget = 0  # each run prefills its prompt, as HF does
    print(f"model {llm.name} · {llm.device} {llm.dtype} quant {llm.quant}"
          f"{' compiled' if args.compile else ''} · {torch.get_num_threads()} threads · "
          f"prompt {len(prompt_ids)} tokens · {args.tokens} new tokens")
    for batch in (1, args.batch):  # warm-up: allocator, first-call paths, compiled shapes
        ours(llm, prompt_ids, 8, batch)
    hf_generate(hf, prompt_ids, 8)
    rows = [("HF generate(), 1 stream", hf_generate(hf, prompt_ids, args.tokens)),
            ("sikao engine, 1 stream", ours(llm, prompt_ids, args.tokens, 1)),
            (f"sikao engine, {args.batch} streams (aggregate)",
             ours(llm, prompt_ids, args.tokens, args.batch))]
    for name, tps in rows:
        print(f"  {name:<40} {tps:8.1f} tok/s")
    print(f"ratio ours/HF single stream: {rows[1][1] / rows[0][1]:.2f}x")
    print(f"ratio batch-{args.batch} aggregate / single: {rows[2][1] / rows[1][1]:.2f}x")


if __name__ == "__main__":
    main()
