"""Chat prompts, the R1 way (DESIGN.md): templates come from the tokenizer; with thinking on the
generation prompt ends with a forced `<think>\n`; earlier assistant turns go back to the model
without their reasoning. A model whose template knows nothing of thinking gets a system
instruction to think inside <think>…</think>, so `--think` works with the bundled model too."""
from __future__ import annotations

import re

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
THINK_SYSTEM = (
    "You are a careful assistant. Before answering, reason step by step inside <think> and </think>: "
    "work the problem out, check it, then close the tag and write the final answer for the user.")
_THOUGHT = re.compile(r"<think>.*?</think>\s*", re.S)


def thinks_natively(tokenizer) -> bool:
    template = tokenizer.chat_template or ""
    return THINK_OPEN in template


def build_prompt(tokenizer, messages: list[dict], think: bool = True, system: str | None = None
                 ) -> str:
    """messages: [{"role": "user"|"assistant"|"system", "content": str, "reasoning"?: str}]"""
    native = thinks_natively(tokenizer)
    msgs = [{"role": m["role"], "content": _strip_thought(m["content"])
             if m["role"] == "assistant" else m["content"]} for m in messages]
    if msgs and msgs[0]["role"] == "system":
        system = "\n\n".join(x for x in (system, msgs.pop(0)["content"]) if x)
    if think and not native:
        system = "\n\n".join(x for x in (THINK_SYSTEM, system) if x)
    if system:
        msgs.insert(0, {"role": "system", "content": system})
    prompt = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True,
                                           enable_thinking=think)
    tail = prompt.rstrip()
    if think and not tail.endswith(THINK_OPEN):
        prompt += THINK_OPEN + "\n"
    elif not think and native and not tail.endswith(THINK_CLOSE):
        prompt += THINK_OPEN + "\n\n" + THINK_CLOSE + "\n\n"
    return prompt


def split_thought(text: str) -> tuple[str, str]:
    """Generated text after a forced `<think>\n` → (reasoning, answer). Without a closing tag
    everything is reasoning (the budget ran out mid-thought)."""
    head, sep, tail = text.partition(THINK_CLOSE)
    if not sep:
        return text.strip(), ""
    return head.replace(THINK_OPEN, "").strip(), tail.strip()


def _strip_thought(content: str) -> str:
    return _THOUGHT.sub("", content)
