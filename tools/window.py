"""The part of a page a model reads: the text around the sentence that best matches the search
snippet (Search-o1 keeps about 3,000 characters around it), or the start of the page."""
from __future__ import annotations

import re

# Words; each CJK character counts as one, since those scripts do not put spaces between words.
_CJK = "\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")
# Sentence ends in Latin and CJK punctuation, or line breaks.
_SENTENCE = re.compile(r"[^.!?。！？\n]+[.!?。！？]*")


def window(text: str, snippet: str, size: int = 3000) -> str:
    if len(text) <= size:
        return text
    want = set(_words(snippet))
    best, best_score = None, 0.0
    for m in _SENTENCE.finditer(text) if want else ():
        score = _f1(want, _words(m.group()))
        if score > best_score:
            best, best_score = m, score
    if best is None or best_score < 0.2:
        return text[:size]
    # Centre on the first snippet word of that sentence: a sentence can be longer than the window.
    words = _WORD.finditer(best.group())
    anchor = best.start() + next(w.start() for w in words if w.group().lower() in want)
    start = max(0, min(anchor - size // 2, len(text) - size))
    return text[start : start + size]


def _words(s: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(s)]


def _f1(want: set[str], got: list[str]) -> float:
    if not got:
        return 0.0
    common = len(want & set(got))
    if not common:
        return 0.0
    precision, recall = common / len(set(got)), common / len(want)
    return 2 * precision * recall / (precision + recall)
