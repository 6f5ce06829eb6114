"""`sikao history list | search QUERY | show ID | export ID --format md|json | delete ID`."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click

from app.store import Store, StoreError, default_path

db_option = click.option("--db", type=click.Path(dir_okay=False, path_type=Path),
                         help="History database file (default: history.db in the user data dir).")


def open_store(db: Path | None) -> Store:
    """Open an existing history; reading commands never create one."""
    path = db or default_path()
    if not path.exists():
        raise StoreError(f"no history database at {path} (nothing recorded yet)")
    return Store(path)


def _when(stamp: str) -> str:
    return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")


@click.group()
def history():
    """Browse, search, export and delete recorded conversations."""


@history.command("list")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=50, show_default=True)
@db_option
def list_(limit, db):
    """Conversations, most recently active first."""
    if db is None and not default_path().exists():
        click.echo("no conversations yet")
        return
    with open_store(db) as store:
        rows = store.conversations(limit)
    for c in rows:
        click.echo(f"{c['id']:>5}  {_when(c['updated'])}  {c['messages']:>3} msgs  {c['title'] or '(untitled)'}")
    if not rows:
        click.echo("no conversations yet")


@history.command()
@click.argument("query")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True)
@db_option
def search(query, limit, db):
    """Full-text search over questions, answers and reasoning."""
    with open_store(db) as store:
        hits = store.search(query, limit)
    for h in hits:
        snippet = " ".join(h["snippet"].split())
        click.echo(f"{h['conversation_id']:>5}  #{h['message_id']:<5} {h['role']:<9} {h['title']}: {snippet}")
    if not hits:
        click.echo(f"no matches for {query!r}")


@history.command()
@click.argument("cid", type=int, metavar="ID")
@click.option("--leaf", type=int, help="Follow the branch ending at this message (default: the newest).")
@db_option
def show(cid, leaf, db):
    """Print a conversation: the thread from its first question to the newest (or --leaf) message."""
    with open_store(db) as store:
        conv, thread = store.conversation(cid), store.thread(cid, leaf)
        extras = {m["id"]: (len(store.siblings(m["id"])), store.search_calls(m["id"])) for m in thread}
    click.secho(f"{conv['title'] or '(untitled)'}  [conversation {cid}, {_when(conv['created'])}]", bold=True)
    for m in thread:
        versions, searches = extras[m["id"]]
        click.secho(f"\n── {m['role']} #{m['id']}{_facts(m, versions)} ──", bold=True)
        if m["reasoning"]:
            click.secho(_indent(m["reasoning"], "  │ "), dim=True)
        for s in searches:
            click.secho(f"  ⌕ {s['query']}  {_search_line(s)}", fg="cyan")
        if m["content"]:
            click.echo(m["content"])


@history.command()
@click.argument("cid", type=int, metavar="ID")
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True)
@click.option("--leaf", type=int, help="Markdown: follow the branch ending at this message.")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-",
              help="Write here instead of stdout.")
@db_option
def export(cid, fmt, leaf, output, db):
    """Export a conversation: Markdown (the newest thread) or JSON (every message, every branch)."""
    with open_store(db) as store:
        text = markdown(store, cid, leaf) if fmt == "md" else json.dumps(as_json(store, cid), ensure_ascii=False, indent=2)
    output.write(text.rstrip("\n") + "\n")


@history.command()
@click.argument("cid", type=int, metavar="ID")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@db_option
def delete(cid, yes, db):
    """Delete a conversation with all its messages and searches."""
    with open_store(db) as store:
        title = store.conversation(cid)["title"]
        if not yes:
            click.confirm(f"Delete conversation {cid} ({title or 'untitled'})?", abort=True)
        store.delete(cid)
    click.echo(f"deleted conversation {cid}")


def _facts(m: dict, versions: int) -> str:
    facts = []
    if versions > 1:
        facts.append(f"{versions} versions")
    if m["role"] == "assistant":
        if m["model"]:
            facts.append(m["model"])
        if m["tok_per_s"]:
            facts.append(f"{m['tok_per_s']:.1f} tok/s")
        if not m["complete"]:
            facts.append(f"incomplete: {m['finish_reason']}")
        elif m["finish_reason"] not in (None, "stop"):
            facts.append(m["finish_reason"])
    return f" ({', '.join(facts)})" if facts else ""


def _search_line(s: dict) -> str:
    if s["message"]:
        return s["message"]
    n = len(s["results"] or [])
    found = f"{n} result{'' if n == 1 else 's'}" if s["results"] is not None else "no results recorded"
    return f"{found} via {s['backend']}" if s["backend"] else found


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.strip("\n").splitlines())


def markdown(store: Store, cid: int, leaf: int | None = None) -> str:
    conv = store.conversation(cid)
    out = [f"# {conv['title'] or 'Untitled conversation'}", "",
           f"*sikao conversation {cid}, started {_when(conv['created'])}*", ""]
    for m in store.thread(cid, leaf):
        out += [f"## {m['role'].capitalize()}{_facts(m, 1)}", ""]
        if m["reasoning"]:
            out += ["<details><summary>Reasoning</summary>", "", _indent(m["reasoning"], "> "), "",
                    "</details>", ""]
        searches = store.search_calls(m["id"])
        if searches:
            out += ["**Searches**", ""]
            for s in searches:
                out.append(f"- `{s['query']}`: {_search_line(s)}")
                out += [f"  - [{r.get('title') or r.get('url')}]({r.get('url')})"
                        for r in s["results"] or [] if r.get("url")]
                if s["notes"]:
                    out += ["", _indent(s["notes"], "  > ")]
            out.append("")
        out += [m["content"], ""]
    return "\n".join(out)


def as_json(store: Store, cid: int) -> dict:
    messages = store.messages(cid)
    for m in messages:
        m["search_calls"] = store.search_calls(m["id"])
        m["graph"] = store.graph(m["id"])
    return {"conversation": store.conversation(cid), "messages": messages}
