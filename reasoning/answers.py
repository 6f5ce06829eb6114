"""Final answers out of model text: GSM8K's `#### n`, the last \\boxed{}, else the last number.
The branch vote normalises answers with these, and the eval harness grades with them."""
from __future__ import annotations

import re

_BOX = re.compile(r"\\(?:boxed|fbox|framebox)\s*{")
_BOX_SPACE = re.compile(r"\\boxed\s+([^\s$]+)")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")
_GSM = re.compile(r"####\s*(.+)")


def answer_part(text: str) -> str:
    """The text after the reasoning: everything after the last `</think>` when there is one."""
    head, sep, tail = text.rpartition("</think>")
    return tail if sep else text


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} with balanced braces (nested braces kept)."""
    found = None
    for m in _BOX.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            found = (m.start(), text[m.end():i - 1])
    space = list(_BOX_SPACE.finditer(text))
    if space and (found is None or space[-1].start() > found[0]):
        return space[-1].group(1)
    return found[1].strip() if found else None


def last_number(text: str) -> str | None:
    nums = _NUMBER.findall(text)
    return nums[-1].replace(",", "").rstrip(".") if nums else None


def math_answer(text: str) -> str | None:
    """The final answer of a math output: GSM8K `####`, else last \\boxed{}, else last number."""
    text = answer_part(text)
    gsm = _GSM.findall(text)
    if gsm:
        return gsm[-1].strip().replace(",", "").rstrip(".")
    boxed = last_boxed(text)
    return boxed if boxed is not None else last_number(text)
