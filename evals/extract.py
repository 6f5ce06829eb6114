"""Pull the function definition out of model text for code tasks (math answers are extracted by
reasoning/answers.py, which the branch vote uses too)."""
from __future__ import annotations

import re

from reasoning.answers import answer_part

_FENCE = re.compile(r"```[ \t]*(?:python|py|Python|python3)?[ \t]*\n(.*?)(?:```|\Z)", re.S)


def code_block(text: str, name: str | None = None) -> str:
    """The code of an output: the last fenced block defining `name`, else all fenced blocks, else
    the raw text (a bare completion of a function body)."""
    text = answer_part(text)
    blocks = _FENCE.findall(text)
    if not blocks:
        return text
    if name:
        defining = [b for b in blocks if re.search(rf"^\s*def\s+{re.escape(name)}\s*\(", b, re.M)]
        if defining:
            return defining[-1]
    return "\n\n".join(blocks)
