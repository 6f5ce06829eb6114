"""`sikao` — the command line. Each verb lives in app/commands/<verb>.py and is imported only when
used, so `sikao --help` and `sikao history …` never pay for importing torch."""
from __future__ import annotations

import importlib
import importlib.util
import sys

import click

COMMANDS = {
    "ask": "app.commands.ask:ask",
    "chat": "app.commands.chat:chat",
    "history": "app.commands.history:history",
    "config": "app.commands.config:config",
    "search": "app.commands.search:search",
    "index": "app.commands.index:index",
    "eval": "app.commands.eval:eval_group",
    "serve": "app.commands.serve:serve",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(name for name, target in COMMANDS.items() if _exists(target))

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None or not _exists(target):
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


def _exists(target: str) -> bool:
    return importlib.util.find_spec(target.split(":")[0]) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sikao")
def cli():
    """sikao (思考): a local reasoning assistant that thinks visibly, searches, and answers."""


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="sikao", standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
