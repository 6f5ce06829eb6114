"""A model of a real model's shape with random weights, for timing the engine at sizes the
bundled 135M model cannot show (nothing to download; the speed of a step depends on the shape, not
on the weights' values). Written with the bundled model's tokenizer:

    python benchmarks/shape.py r1-distill-qwen-1.5b /tmp/r1-1.5b
    python benchmarks/speed.py --model /tmp/r1-1.5b --only int4 --tokens 64

How much a long context costs depends on the shape: at 2,200 keys a token's attention does ~70 %
as many multiply-adds as its linear layers in the bundled model (576 wide), ~60 % at the Qwen3-0.6B
shape and ~15 % at the R1-Distill-1.5B one, so appending 200 tokens at 2,000 tokens of context vs
at 200 measured 1.8x, 2.0x and 1.2x.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch

SHAPES = {  # the models' own config.json values; vocab cut to the bundled tokenizer's
    "r1-distill-qwen-1.5b": ("qwen2", {
        "hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
        "num_attention_heads": 12, "num_key_value_heads": 2, "rope_theta": 10000.0,
        "rms_norm_eps": 1e-6, "tie_word_embeddings": False}),
    "qwen3-0.6b": ("qwen3", {
        "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28,
        "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128,
        "rope_theta": 1000000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": True}),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("shape", choices=sorted(SHAPES))
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    from transformers import AutoConfig, AutoModelForCausalLM

    from engine.resolve import resolve

    family, fields = SHAPES[args.shape]
    bundled = Path(resolve("default").path)
    config = AutoConfig.for_model(family, vocab_size=49152, max_position_embeddings=32768,
                                  **fields)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.save_pretrained(args.out)
    for f in bundled.glob("tokenizer*"):
        shutil.copy(f, args.out)
    print(f"{args.shape}: {sum(p.numel() for p in model.parameters()) / 1e9:.2f}B parameters "
          f"in {args.out}")


if __name__ == "__main__":
    main()
