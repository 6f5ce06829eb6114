"""Plain-terminal rendering of the event stream: reasoning dim, answer plain, search and branch
events as short status lines on stderr-free stdout; or one JSON object per line.

Search-first answers cite `[citation:N]`: shown as `[N]`, a terminal hyperlink to the N-th result
when styled, with the cited sources listed at the end. Branches interleave token by token, so
their text is shown a line at a time, each line tagged with its branch."""
from __future__ import annotations

import json
import re
import sys

import click

from reasoning import events as ev

CITATION = re.compile(r"\[citation:(\d+)\]")
CUT_CITATION = re.compile(r"\[(?:c(?:i(?:t(?:a(?:t(?:i(?:o(?:n(?::\d*)?)?)?)?)?)?)?)?)?$")


class Renderer:
    def __init__(self, out=None, color: bool | None = None, as_json: bool = False):
        self.out = out or sys.stdout
        self.color = self.out.isatty() if color is None else color
        self.as_json = as_json
        self.phase = None  # "thinking" | "answer": a header is printed on each switch
        self.sources: list[dict] = []  # the latest search's results, what [citation:N] points to
        self.cited: dict[int, dict] = {}
        self.held = ""  # answer text that may end in the first part of a citation
        self.lines: dict[int, tuple[str, bool]] = {}  # branch -> (unfinished line, dim)

    def __call__(self, event: ev.Event) -> None:
        if self.as_json:
            self.out.write(json.dumps(event.to_dict(), ensure_ascii=False) + "\n")
            self.out.flush()
            return
        match event:
            case ev.ThinkingDelta(text=text, branch=b) if self.lines:
                self._branch(b, text, dim=True)
            case ev.AnswerDelta(text=text, branch=b) if self.lines:
                self._branch(b, text, dim=False)
            case ev.ThinkingDelta(text=text):
                self._switch("thinking")
                self._write(text, dim=True)
            case ev.AnswerDelta(text=text):
                self._switch("answer")
                self._answer(text)
            case ev.SearchQuery(query=q):
                self._line(f"🔎 searching: {q}")
            case ev.SearchResults(results=results, message=message):
                self.sources = results or self.sources
                self._line(message or "\n".join(f"   [{i + 1}] {r.get('title', '')} — {r.get('url', '')}"
                                                for i, r in enumerate(results)) or "   no results")
            case ev.DocumentNotes(notes=notes):
                self._line(f"   notes: {notes[:300]}")
            case ev.BranchStarted(branch=b):
                self.lines[b] = ("", True)
            case ev.BranchPruned(branch=b, step=step, confidence=c, threshold=t, reason=why):
                self._flush(b)
                self._line(f"✂ branch {b} pruned at step {step}: {why} "
                           f"(confidence {c:.2f}, threshold {t:.2f})")
            case ev.BranchFinished(branch=b, answer=a, confidence=c):
                self._flush(b)
                self._line(f"✓ branch {b}: {a[-80:]!r} (confidence {c:.2f})")
            case ev.Vote(answer=a, weights=w):
                self._line("vote: " + ", ".join(f"{k!r}={v:.2f}" for k, v in w.items()) + f" → {a!r}")
            case ev.Notice(message=m):
                self._line(f"⚠ {m}")
            case ev.Error(message=m):
                self._line(f"error: {m}")
            case ev.Done(answer=answer, stats=s):
                self._done(answer, s)

    def _done(self, answer: str, s: ev.Stats) -> None:
        if self.lines:  # branched: the vote's answer, once, after the branches' lines
            for b in self.lines:
                self._flush(b)
            self._line("Answer:")
            self._answer(answer)
        self._write(self.held)
        self._write("\n")
        if self.cited:
            self._line("Sources:\n" + "\n".join(f"   [{n}] {r.get('title', '')} — {r.get('url', '')}"
                                                 for n, r in sorted(self.cited.items())))
        extra = [f"{s.searches} search{'es' if s.searches > 1 else ''}"] if s.searches else []
        extra += [f"{s.branches} branches, {s.pruned} pruned"] if s.branches > 1 else []
        reading = f" + {s.reading_tokens} reading" if s.reading_tokens else ""
        first = f" (first token {s.first_token:.2f} s)" if s.first_token else ""
        self._line(f"{s.prompt_tokens} prompt + {s.thinking_tokens} thinking + {s.answer_tokens} "
                   f"answer{reading} tokens · {s.tok_per_s:.1f} tok/s · {s.elapsed:.1f} s{first}"
                   + "".join(f" · {x}" for x in extra))

    def _answer(self, text: str) -> None:
        text, self.held = self.held + text, ""
        cut = CUT_CITATION.search(text)
        if cut:
            text, self.held = text[:cut.start()], text[cut.start():]
        self._write(CITATION.sub(self._cite, text))

    def _cite(self, m: re.Match) -> str:
        n = int(m.group(1))
        if not 1 <= n <= len(self.sources):
            return f"[{n}]"
        source = self.cited[n] = self.sources[n - 1]
        url = source.get("url", "")
        # OSC 8: a terminal hyperlink, for terminals that show styles
        return f"\x1b]8;;{url}\x1b\\[{n}]\x1b]8;;\x1b\\" if self.color and url else f"[{n}]"

    def _branch(self, b: int, text: str, dim: bool) -> None:
        line, was_dim = self.lines.get(b, ("", dim))
        if was_dim != dim:
            self._flush(b)
            line = ""
        *done, line = (line + text).split("\n")
        for d in filter(str.strip, done):
            self._write(f"[{b}] {d}\n", dim=dim)
        self.lines[b] = (line, dim)
        if done:
            self.phase = "status"

    def _flush(self, b: int) -> None:
        line, dim = self.lines.get(b, ("", True))
        if line.strip():
            self._write(f"[{b}] {line}\n", dim=dim)
            self.phase = "status"
        self.lines[b] = ("", dim)

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
