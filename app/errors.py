"""User-facing failures: one line on stderr and a non-zero exit, never a traceback."""
from __future__ import annotations

import click


class UserError(click.ClickException):
    """Raised anywhere in a command for a clean one-line failure (exit 2 by default)."""

    exit_code = 2

    def show(self, file=None):
        click.echo(f"sikao: error: {self.format_message()}", err=True)
