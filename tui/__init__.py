"""The Textual chat application: `sikao chat` (tui/app.py)."""
