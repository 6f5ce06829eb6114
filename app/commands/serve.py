"""`sikao serve`: the model behind an OpenAI-compatible API (chat and text completions, SSE
streaming, reasoning in `delta.reasoning`), for any OpenAI client or `sikao ask --engine URL`."""
from __future__ import annotations


import click

from app.common import compile_option, load_llm, model_options
from app.errors import UserError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; 0.0.0.0 exposes the model to the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--api-key", default=None, envvar="SIKAO_API_KEY",
              help="Require 'Authorization: Bearer KEY' (env SIKAO_API_KEY).")
@click.option("--served-model-name", default=None, help="Model id in the API (default: the model's name).")
@click.option("--max-tokens", type=click.IntRange(1), default=4096, show_default=True,
              help="The most tokens one request may ask for.")
@click.option("--max-batch", type=click.IntRange(1), default=32, show_default=True,
              help="Sequences decoded together; more requests wait in a queue.")
@click.option("--cache-size", type=click.IntRange(0), default=256, show_default=True,
              help="Deterministic (temperature 0) responses kept in memory; 0 turns the cache off.")
@click.option("--max-body", type=click.IntRange(1), default=1 << 20, show_default=True,
              help="The largest request body in bytes.")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@compile_option
@model_options
def serve(host, port, api_key, served_model_name, max_tokens, max_batch, cache_size, max_body,
          log_level, compile_step, model, device, dtype, quant):
    """Serve the model over an OpenAI-compatible HTTP API."""
    from engine.serve import ServeConfig, bind, serve as run

    if model and model.startswith(("http://", "https://")):
        raise UserError("sikao serve runs a local model: give --model a name, file or directory")
    if host not in ("127.0.0.1", "localhost", "::1") and not api_key:
        click.echo(f"sikao: warning: serving on {host} without --api-key: anyone who can reach "
                   "it can use the model", err=True)
    try:
        sock = bind(host, port)  # before loading the model: a taken port fails fast
    except OSError as err:
        raise UserError(f"can't serve on {host}:{port}: {err.strerror or err}") from None
    llm = load_llm(model, device, dtype, quant, compile_step=compile_step)
    config = ServeConfig(host=host, port=port, api_key=api_key, served_name=served_model_name,
                         max_tokens=max_tokens, max_batch=max_batch, cache_size=cache_size,
                         max_body=max_body)
    name = served_model_name or llm.name
    click.echo(f"sikao: serving {name} on http://{host}:{sock.getsockname()[1]}/v1 "
               "(Ctrl+C stops)", err=True)
    run(llm, config, sock, log_level=log_level)
