"""One response in the OpenAI shapes: streamed chunks and the whole object, for chat and text
completions. Chat output that is reasoning (the prompt ended inside <think>) goes out as
`reasoning` and `reasoning_content` (vLLM's names), the rest as `content`."""
from __future__ import annotations

import time
import uuid

from engine.chat import THINK_CLOSE
from engine.detok import StopMatcher
from engine.sequence import StepOutput


class ThinkSplit:
    """Streamed text → (reasoning, content) at the first </think>; a tail that may be the start
    of the tag is held back until the next piece settles it."""

    def __init__(self, thinking: bool):
        self.thinking = thinking
        self.held = ""

    def feed(self, text: str) -> tuple[str, str]:
        if not self.thinking:
            return "", text
        buf, self.held = self.held + text, ""
        i = buf.find(THINK_CLOSE)
        if i >= 0:
            self.thinking = False
            return buf[:i], buf[i + len(THINK_CLOSE):]
        keep = StopMatcher.partial(buf, THINK_CLOSE)
        self.held = buf[len(buf) - keep:]
        return buf[:len(buf) - keep], ""

    def flush(self) -> tuple[str, str]:
        held, self.held = self.held, ""
        return (held, "") if self.thinking else ("", held)


class Reply:
    def __init__(self, kind: str, model: str, n_prompt: int, thinking: bool = False,
                 logprobs: bool = False, tokenizer=None):
        self.kind, self.model, self.n_prompt = kind, model, n_prompt
        self.id = ("chatcmpl-" if kind == "chat" else "cmpl-") + uuid.uuid4().hex[:24]
        self.created = int(time.time())
        self.split = ThinkSplit(thinking)
        self.logprobs, self.tokenizer = logprobs, tokenizer
        self.reasoning: list[str] = []
        self.content: list[str] = []
        self.tokens: list[StepOutput] = []
        self.n_out = 0
        self.finish_reason: str | None = None
        self.stop_reason: str | None = None

    # -- feeding ------------------------------------------------------------------------------
    def feed(self, out: StepOutput) -> dict | None:
        """Take one step's output; return its stream chunk (None when there is nothing to say)."""
        self.n_out += 1
        reasoning, content = self.split.feed(out.text)
        if out.finished:
            r, c = self.split.flush()
            reasoning, content = reasoning + r, content + c
            self.finish_reason, self.stop_reason = out.finish_reason, out.stop_str
        if self.logprobs:
            self.tokens.append(out)
        if not (reasoning or content or out.finished or self.logprobs):
            return None
        return self.delta(reasoning, content, self.finish_reason, [out] if self.logprobs else None)

    def delta(self, reasoning: str = "", content: str = "", finish: str | None = None,
              tokens: list[StepOutput] | None = None, extra: dict | None = None) -> dict:
        if reasoning:
            self.reasoning.append(reasoning)
        if content:
            self.content.append(content)
        choice = {"index": 0, "logprobs": self._logprobs(tokens), "finish_reason": finish}
        if finish is not None:
            choice["stop_reason"] = self.stop_reason
        if self.kind == "chat":
            choice["delta"] = {}
            if reasoning:
                choice["delta"].update(reasoning=reasoning, reasoning_content=reasoning)
            if content:
                choice["delta"]["content"] = content
        else:
            choice["text"] = reasoning + content
        chunk = self._head("chat.completion.chunk" if self.kind == "chat" else "text_completion")
        chunk["choices"] = [choice]
        if extra:
            chunk.update(extra)
        return chunk

    # -- whole objects ------------------------------------------------------------------------
    def first(self) -> dict:
        chunk = self._head("chat.completion.chunk")
        chunk["choices"] = [{"index": 0, "delta": {"role": "assistant", "content": ""},
                             "logprobs": None, "finish_reason": None}]
        return chunk

    def usage(self) -> dict:
        return {"prompt_tokens": self.n_prompt, "completion_tokens": self.n_out,
                "total_tokens": self.n_prompt + self.n_out}

    def usage_chunk(self) -> dict:
        head = self._head("chat.completion.chunk" if self.kind == "chat" else "text_completion")
        return {**head, "choices": [], "usage": self.usage()}

    def whole(self) -> dict:
        reasoning, content = "".join(self.reasoning), "".join(self.content)
        choice = {"index": 0, "logprobs": self._logprobs(self.tokens),
                  "finish_reason": self.finish_reason, "stop_reason": self.stop_reason}
        if self.kind == "chat":
            choice["message"] = {"role": "assistant", "content": content,
                                 "reasoning": reasoning or None, "reasoning_content": reasoning or None}
        else:
            choice["text"] = reasoning + content
        body = self._head("chat.completion" if self.kind == "chat" else "text_completion")
        return {**body, "choices": [choice], "usage": self.usage()}

    def _head(self, obj: str) -> dict:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model}

    def _logprobs(self, tokens: list[StepOutput] | None) -> dict | None:
        """Per token: its text, logprob and (a sikao extension) DeepConf confidence."""
        if not self.logprobs or tokens is None:
            return None
        text = [self.tokenizer.decode([o.token_id]) for o in tokens]
        if self.kind == "chat":
            return {"content": [{"token": t, "logprob": o.logprob, "bytes": list(t.encode()),
                                 "top_logprobs": [], "confidence": o.confidence}
                                for t, o in zip(text, tokens)]}
        return {"tokens": text, "token_logprobs": [o.logprob for o in tokens], "top_logprobs": None,
                "confidence": [o.confidence for o in tokens]}
