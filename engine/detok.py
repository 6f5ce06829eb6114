"""Incremental detokenization and stop-string matching for streamed output.

Detokenizer follows vLLM's prefix_offset / read_offset scheme: each step decodes only a short
window of ids twice, the already-emitted part (prefix) and the same part plus the unread tokens,
and emits the difference. Decoding with a few tokens of left context keeps leading spaces right
(SentencePiece "▁" and byte-level "Ġ" decoders treat the start of a string specially), and a
window whose text ends in U+FFFD is an incomplete UTF-8 character (a Chinese character or an
emoji split over byte tokens): nothing is emitted until a later token completes it.
"""

from __future__ import annotations

PROMPT_CONTEXT = 5  # prompt tokens decoded as left context for the first output token (vLLM's)


class Detokenizer:
    """Turns one sequence's new token ids into text deltas."""

    def __init__(self, tokenizer, prompt_ids=(), skip_special_tokens: bool = True):
        self.tokenizer = tokenizer
        self.skip_special_tokens = skip_special_tokens
        # window[:read] has been emitted (it is only context now); window[read:] not yet
        self.window = list(prompt_ids)[-PROMPT_CONTEXT:]
        self.read = len(self.window)
        self.parts: list[str] = []

    @property
    def text(self) -> str:
        """All output text emitted so far."""
        return "".join(self.parts)

    def add(self, token_id: int) -> str:
        """Take the next token id; return the new text ("" while a character is partial)."""
        self.window.append(token_id)
        prefix = self.decode(self.window[: self.read])
        full = self.decode(self.window)
        if len(full) <= len(prefix) or full.endswith("\ufffd"):
            return ""
        delta = full[len(prefix):]
        # the tokens just read become the next step's context
        del self.window[: self.read]
        self.read = len(self.window)
        self.parts.append(delta)
        return delta

    def copy(self) -> Detokenizer:
        """An independent detokenizer in the same state (for a forked sequence)."""
        kid = Detokenizer(self.tokenizer, skip_special_tokens=self.skip_special_tokens)
        kid.window, kid.read, kid.parts = list(self.window), self.read, list(self.parts)
        return kid

    def decode(self, ids: list[int]) -> str:
        if not ids:
            return ""
        return self.tokenizer.decode(ids, skip_special_tokens=self.skip_special_tokens,
                                     clean_up_tokenization_spaces=False)


class StopMatcher:
    """Finds stop strings in a stream of text deltas, never letting one (or a part of one) out.

    feed(delta) -> (text safe to emit now, stop string hit or None, its char offset or None).
    A tail that could be the start of a stop string is held back until the next delta settles it.
    The stop string hit is the one that completes first in the stream (a tie: the longer one), so
    the result does not depend on how the text was split into deltas. Offsets count every char fed
    since construction; after a hit the rest of that delta is dropped and matching can go on with
    later deltas (e.g. after text is appended to the sequence). flush() releases the held tail when
    the stream ends for another reason.
    """

    def __init__(self, stops: list[str]):
        self.stops = [s for s in stops if s]
        self.held = ""
        self.offset = 0  # chars fed before self.held

    def feed(self, delta: str) -> tuple[str, str | None, int | None]:
        buf = self.held + delta
        hit = None
        for stop in self.stops:
            i = buf.find(stop)
            if i >= 0 and (hit is None or (i + len(stop), i) < (hit[0] + len(hit[1]), hit[0])):
                hit = (i, stop)
        if hit is not None:
            i, stop = hit
            position = self.offset + i
            self.offset += len(buf)
            self.held = ""
            return buf[:i], stop, position
        keep = max((self.partial(buf, stop) for stop in self.stops), default=0)
        out, self.held = buf[: len(buf) - keep], buf[len(buf) - keep:]
        self.offset += len(out)
        return out, None, None

    def flush(self) -> str:
        out, self.held = self.held, ""
        self.offset += len(out)
        return out

    @staticmethod
    def partial(text: str, stop: str) -> int:
        """Length of the longest suffix of text that is a proper prefix of stop."""
        for n in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:n]):
                return n
        return 0
