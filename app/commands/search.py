"""`sikao search QUERY`: run one search backend and print what it found (for people and for
debugging what the model will see)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from app.errors import UserError


@click.command()
@click.argument("query", nargs=-1, required=True)
@click.option("-b", "--backend", type=click.Choice(["auto", "duckduckgo", "searxng", "local"]),
              help="auto: the online backend, or the local corpus when offline [config: search_backend]")
@click.option("-n", "--num", "k", default=5, show_default=True, type=click.IntRange(1, 50),
              help="how many results")
@click.option("--json", "as_json", is_flag=True, help="print the results as a JSON array")
@click.option("--searxng-url", metavar="URL",
              help="base URL of a SearXNG instance, which auto then uses [config: searxng_url]")
@click.option("--corpus", type=click.Path(dir_okay=False, path_type=Path),
              help="local corpus index file (default: in the user data dir)")
@click.option("--timeout", default=10.0, show_default=True, type=click.FloatRange(0.1), help="seconds")
@click.option("--no-cache", is_flag=True, help="skip the search result cache")
def search(query, backend, k, as_json, searxng_url, corpus, timeout, no_cache):
    """Search the web or the local corpus and print the results.

    Defaults come from config.toml (`sikao config show`); flags given here win."""
    import tools
    from app.config import Config

    cfg = Config.load().merged({"search_backend": backend, "searxng_url": searxng_url})
    text = " ".join(query)
    try:
        results = tools.search(text, backend=cfg.search_backend, k=k, cache=not no_cache,
                               searxng_url=cfg.searxng_url or None, corpus=corpus, timeout=timeout)
    except tools.ToolError as e:
        raise UserError(str(e)) from None
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in results], ensure_ascii=False, indent=2))
        return
    if not results:
        click.echo(f"no results for {text!r}", err=True)
    for r in results:
        head = click.style(f"{r.rank:>2}. {r.title or r.url}", bold=True)
        click.echo(head + click.style(f"  [{r.backend}]", dim=True))
        click.echo(f"    {r.url}")
        if r.snippet:
            click.echo(f"    {r.snippet}")
