"""Plain-terminal rendering of the event stream: reasoning dim, answer plain, search and branch
events as short status lines on stderr-free stdout; or one JSON object per line."""
from __future__ import annotations

import json
import sys

import click

from reasoning import events as ev


class Renderer:
    def __init__(self, out=None, color: bool | None = None, as_json: bool = False):
        self.out = out or sys.stdout
        self.color = self.out.isatty() if color is None else color
        self.as_json = as_json
        self.phase = None  # "thinking" | "answer": a header is printed on each switch

    def __call__(self, event: ev.Event) -> None:
        if self.as_json:
            self.out.write(json.dumps(event.to_dict(), ensure_ascii=False) + "\n")
            self.out.flush()
            return
        match event:
            case ev.ThinkingDelta(text=text):
                self._switch("thinking")
                self._write(text, dim=True)
            case ev.AnswerDelta(text=text):
                self._switch("answer")
                self._write(text)
            case ev.SearchQuery(query=q):
                self._line(f"🔎 searching: {q}")
            case ev.SearchResults(results=results, message=message):
                self._line(message or "\n".join(f"   [{i + 1}] {r.get('title', '')} — {r.get('url', '')}"
                                                for i, r in enumerate(results)) or "   no results")
            case ev.DocumentNotes(notes=notes):
                self._line(f"   notes: {notes[:300]}")
            case ev.BranchPruned(branch=b, step=step, confidence=c, threshold=t):
                self._line(f"✂ branch {b} pruned at step {step} (confidence {c:.2f} < {t:.2f})")
            case ev.BranchFinished(branch=b, answer=a, confidence=c):
                self._line(f"✓ branch {b}: {a!r} (confidence {c:.2f})")
            case ev.Vote(answer=a, weights=w):
                self._line("vote: " + ", ".join(f"{k!r}={v:.2f}" for k, v in w.items()) + f" → {a!r}")
            case ev.Notice(message=m):
                self._line(f"⚠ {m}")
            case ev.Error(message=m):
                self._line(f"error: {m}")
            case ev.Done(stats=s):
                self._write("\n")
                self._line(f"{s.prompt_tokens} prompt + {s.thinking_tokens} thinking + "
                           f"{s.answer_tokens} answer tokens · {s.tok_per_s:.1f} tok/s · "
                           f"{s.elapsed:.1f} s" + (f" · {s.searches} searches" if s.searches else ""))

    def _switch(self, phase: str) -> None:
        if phase != self.phase:
            if self.phase is not None:
                self._write("\n\n")
            if phase == "thinking":
                self._write("Thinking…\n", dim=True)
            self.phase = phase

    def _write(self, text: str, dim: bool = False) -> None:
        self.out.write(click.style(text, dim=True) if dim and self.color else text)
        self.out.flush()

    def _line(self, text: str) -> None:
        self._write(("\n" if self.phase else "") + text + "\n", dim=True)
        self.phase = "status"
