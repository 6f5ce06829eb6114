"""Pieces several commands share: the model flags and loading a model with one-line errors."""
from __future__ import annotations

import functools
import os

import click

from app.errors import UserError


def model_options(f):
    """--model/--device/--dtype/--quant, passed to the command as keyword arguments."""
    @click.option("--model", "-m", default=None, help="default | path.gguf | HF dir | hub id")
    @click.option("--device", default=None, help="cpu | cuda | mps (default: best available)")
    @click.option("--dtype", default=None, help="float32 | bfloat16 | float16 (default: by device)")
    @click.option("--quant", default=None, type=click.Choice(["auto", "none", "int8", "int4"]),
                  help="weight-only quantization (auto: by device and model)")
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        return f(*args, **kwargs)

    return wrapper


compile_option = click.option(
    "--compile", "compile_step", is_flag=True,
    help="torch.compile the decode step (a ~40 s start): ~1.3x faster decoding on CPUs without "
         "sikao's native kernels; with them the eager step is faster.")


def load_llm(model: str | None = None, device: str | None = None, dtype: str | None = None,
             quant: str | None = None, progress=None, engine: str | None = None,
             compile_step: bool = False, threads: int | None = None):
    """The local engine, or with `engine` (or a model spec that is an http(s) URL) a remote
    OpenAI-compatible server; then `model` picks among its models and SIKAO_API_KEY is sent."""
    from engine import EngineConfig, EngineError

    if engine is None and model and model.startswith(("http://", "https://")):
        engine, model = model, None
    try:
        if engine:
            from engine.remote import RemoteLLM

            return RemoteLLM(engine, model=None if model in (None, "default") else model,
                             api_key=os.environ.get("SIKAO_API_KEY"))
        from engine.llm import LLM

        return LLM(EngineConfig(model=model or "default", device=device, dtype=dtype,
                                quant=quant or "auto", compile=compile_step, threads=threads),
                   progress=progress)
    except EngineError as err:
        raise UserError(str(err)) from None
