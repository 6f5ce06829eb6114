"""Chat mode of the remote engine, for a model whose tokenizer is not at hand: a stand-in
tokenizer lets engine.chat.build_prompt run unchanged, and the marker it renders is turned back
into messages for /v1/chat/completions, where the server applies its own template."""
from __future__ import annotations

import json

from engine.chat import THINK_CLOSE, THINK_OPEN, THINK_SYSTEM
from engine.errors import EngineError

MARK, END = "\x00sikao-chat:", "\x00"


class ChatTemplate:
    """The tokenizer stand-in of chat mode: `build_prompt` renders a conversation into a marker
    string that carries the messages; the server's own template does the rest."""

    chat_template = ""

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True, **_):
        return MARK + json.dumps(messages, ensure_ascii=False) + END


def unmark(prompt: str) -> tuple[list[dict], str]:
    """A chat-mode prompt → its messages and the text build_prompt put after the template. The
    think instruction build_prompt adds for models that don't think natively is left to the
    server, which knows its model."""
    if not prompt.startswith(MARK):
        raise EngineError("without a tokenizer for the remote model, prompts must come from "
                          "engine.chat.build_prompt")
    data, _, prefix = prompt[len(MARK):].partition(END)
    messages = json.loads(data)
    if messages and messages[0]["role"] == "system" and messages[0]["content"].startswith(THINK_SYSTEM):
        rest = messages[0]["content"][len(THINK_SYSTEM):].strip()
        messages = ([{"role": "system", "content": rest}] if rest else []) + messages[1:]
    return messages, prefix


def in_thought(prompt: str, text: str) -> bool:
    """Whether a chat-mode sequence (prompt + text after it) is inside an open <think>."""
    tail = prompt.rpartition(END)[2] + text
    return tail.rfind(THINK_OPEN) > tail.rfind(THINK_CLOSE)
