"""Serving throughput: N concurrent streaming requests against `sikao serve` (continuous
batching) vs the same N requests one after another, on the same server in one run; prints tok/s
for both, the ratio, and P50/P99 time to first token and latency from the server's /metrics.

    python benchmarks/serve.py [--requests 8] [--tokens 64] [--model default] [--quant auto]
                               [--url URL]

Without --url it starts `sikao serve` on a free loopback port and stops it afterwards.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import threading
import time

import httpx

QUESTIONS = ["Explain how a bicycle stays upright.", "Why is the sky blue?",
             "How do vaccines train the immune system?", "What makes bread rise?",
             "How does a refrigerator move heat?", "Why do we have seasons?",
             "How do airplanes stay in the air?", "What is a prime number, with examples?"]


async def request(client: httpx.AsyncClient, url: str, i: int, tokens: int) -> int:
    """One streamed chat completion of exactly `tokens` tokens; the tokens the server counted."""
    body = {"messages": [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}],
            "max_tokens": tokens, "ignore_eos": True, "temperature": 0.7, "seed": i,
            "stream": True, "stream_options": {"include_usage": True}}
    usage = None
    async with client.stream("POST", url + "/chat/completions", json=body, timeout=600) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if '"usage": {' in line:  # only the last chunk is parsed: the client's CPU is the server's
                usage = json.loads(line[6:])["usage"]
    return usage["completion_tokens"]


async def run(url: str, n: int, tokens: int, together: bool) -> float:
    """tok/s of n requests, all at once or one after another."""
    async with httpx.AsyncClient() as client:
        started = time.perf_counter()
        if together:
            made = sum(await asyncio.gather(*(request(client, url, i, tokens) for i in range(n))))
        else:
            made = sum([await request(client, url, i, tokens) for i in range(n)])
        return made / (time.perf_counter() - started)


def quantile(metrics: str, name: str, q: float) -> float:
    """A quantile from a Prometheus histogram, as histogram_quantile() would estimate it."""
    buckets = [(float(le), float(v)) for le, v in
               re.findall(rf'^{name}_bucket{{le="([^"]+)"}} (\S+)$', metrics, re.M)]
    total = buckets[-1][1]
    lower, below = 0.0, 0.0
    for le, count in buckets:
        if count >= q * total:
            if le == float("inf"):
                return lower
            return lower + (le - lower) * (q * total - below) / max(count - below, 1e-9)
        lower, below = le, count
    return lower


def start(model: str, quant: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", "0", "--model", model,
                             "--quant", quant, "--max-batch", "64"], stderr=subprocess.PIPE,
                            text=True)
    seen = []
    for line in proc.stderr:  # warnings may come first
        seen.append(line)
        if found := re.search(r"http://\S+/v1", line):
            url = found.group(0)
            break
    else:
        sys.exit("sikao serve did not start:\n" + "".join(seen))
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # a full pipe would block it
    while True:
        try:
            httpx.get(url.replace("/v1", "/health"))
            return proc, url
        except httpx.TransportError:
            time.sleep(0.2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--model", default="default")
    ap.add_argument("--quant", default="auto", choices=["auto", "none", "int8", "int4"])
    ap.add_argument("--url", default=None, help="an already running server (…/v1)")
    args = ap.parse_args()
    proc, url = (None, args.url) if args.url else start(args.model, args.quant)
    try:
        asyncio.run(run(url, 1, 4, False))  # warm-up: first-call allocations are not serving speed
        seq = asyncio.run(run(url, args.requests, args.tokens, False))
        con = asyncio.run(run(url, args.requests, args.tokens, True))
        metrics = httpx.get(url.replace("/v1", "/metrics")).text
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
    print(f"{args.requests} requests x {args.tokens} tokens, quant {args.quant}")
    print(f"sequential: {seq:8.1f} tok/s")
    print(f"concurrent: {con:8.1f} tok/s")
    print(f"ratio:      {con / seq:8.2f}x")
    for name, label in (("sikao_time_to_first_token_seconds", "time to first token"),
                        ("sikao_request_latency_seconds", "latency")):
        p50, p99 = (quantile(metrics, name, q) for q in (0.5, 0.99))
        print(f"{label}: P50 {p50:.3f} s, P99 {p99:.3f} s (all requests of the run)")


if __name__ == "__main__":
    main()
