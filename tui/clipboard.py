"""Copying text out of the terminal. OSC 52 reaches the system clipboard in most terminals (also
over SSH) but fails silently in some (macOS Terminal, tmux without set-clipboard), so the text also
goes to pyperclip where it is installed and works, else to a file whose path the user is told."""
from __future__ import annotations

from pathlib import Path

from app.paths import cache_dir


def copy(app, text: str) -> Path | None:
    """Copy `text`; returns the fallback file it was also written to, or None if pyperclip took it."""
    app.copy_to_clipboard(text)
    try:
        import pyperclip
    except ImportError:
        pyperclip = None
    if pyperclip is not None:
        try:
            pyperclip.copy(text)
            return None
        except pyperclip.PyperclipException:  # no clipboard program on this system
            pass
    path = cache_dir() / "clipboard.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
