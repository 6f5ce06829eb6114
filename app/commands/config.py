"""`sikao config show | set KEY VALUE | path`."""
from __future__ import annotations

from dataclasses import asdict

import click
import tomli_w

from app.config import CHOICES, KEYS, Config, config_path


@click.group()
def config():
    """Defaults for every flag, kept in config.toml (flags given on the command line win)."""


@config.command()
def show():
    """Print the effective configuration (defaults merged with config.toml)."""
    values = asdict(Config.load())
    click.echo(tomli_w.dumps({k: v for k, v in values.items() if v is not None}), nl=False)
    for key in (k for k, v in values.items() if v is None):
        click.echo(f"# {key} is not set")


_KEY_HELP = "; ".join(f"{k} ({'|'.join(CHOICES[k])})" if k in CHOICES else k for k in KEYS)


@config.command("set", help=f"Set KEY to VALUE in config.toml. Keys: {_KEY_HELP}. Lists are "
                            "comma-separated; `seed none` unsets the seed.")
@click.argument("key")
@click.argument("value")
def set_(key, value):
    cfg = Config.load()
    cfg.set(key.replace("-", "_"), value)
    path = cfg.save()
    click.echo(f"{key.replace('-', '_')} = {getattr(cfg, key.replace('-', '_'))!r}  ({path})")


@config.command()
def path():
    """Print where config.toml lives (SIKAO_CONFIG_DIR overrides the user config dir)."""
    click.echo(config_path())
