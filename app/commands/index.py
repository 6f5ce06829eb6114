"""`sikao index PATH…`: build and keep the offline search corpus (SQLite FTS5) that the `local`
search backend reads, and that `auto` falls back to without a network."""
from __future__ import annotations

from pathlib import Path

import click

from app.errors import UserError


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--list", "show", is_flag=True, help="list the indexed documents")
@click.option("--remove", multiple=True, metavar="PATH", type=click.Path(path_type=Path),
              help="forget a file, or every file under a folder (repeatable)")
@click.option("--corpus", type=click.Path(dir_okay=False, path_type=Path),
              help="index file (default: corpus.db in the user data dir)")
def index(paths, show, remove, corpus):
    """Build the offline search corpus from .md, .txt, .html and .rst files.

    Indexing a folder again re-reads only changed files and forgets deleted ones."""
    from tools import Corpus, ToolError

    if not (paths or show or remove):
        raise UserError("give folders or files to index, --list, or --remove PATH")
    store = Corpus(corpus)
    for path in remove:
        n = store.remove(path)
        if not n:
            raise UserError(f"nothing indexed under {path}")
        click.echo(f"removed {n} document{'s' * (n != 1)} under {path}")
    if paths:
        try:
            stats = store.add(list(paths), progress=True)
        except ToolError as e:
            raise UserError(str(e)) from None
        for failure in stats.failed:
            click.echo(f"sikao: warning: skipped {failure}", err=True)
        click.echo(f"indexed {stats.added} new, {stats.updated} changed, {stats.unchanged} unchanged, "
                   f"{stats.removed} removed → {store.path}")
    if show:
        docs = store.documents()
        for d in docs:
            click.echo(f"{d.size:>9}  {d.path}  {d.title}")
        click.echo(f"{len(docs)} document{'s' * (len(docs) != 1)} in {store.path}", err=True)
