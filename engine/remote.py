"""RemoteLLM: the engine's sequence surface (add / step / fork / drop / append / seq / stream /
generate) over any OpenAI-compatible server — vLLM, SGLang, llama.cpp, Ollama, `sikao serve` —
so the reasoning graph and the evals run unchanged against a big model elsewhere.

Each running sequence is one streamed HTTP request, read by its own thread; `step()` takes the
next chunk of every running sequence. A sequence is text: `fork` starts independent requests on
the same prefix, `append` resends prefix + text (a server's prefix cache makes that cheap).

Two ways to talk to the server:
- raw text completions (`/v1/completions`) when the model's tokenizer is at hand (the server's
  `root` path when it is on this machine, or the model id in the local Hugging Face cache): the
  chat template is applied here, so stop strings such as Search-o1's end tag and `</think>` are
  under exact control;
- otherwise chat completions: the tokenizer is a stand-in that hands the messages through, the
  server applies its own template, and a sequence that continues is sent as a final assistant
  message with `continue_final_message` (vLLM's extension). Reasoning comes back in
  `delta.reasoning` (or `delta.reasoning_content`) and is put back in front of `</think>`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

import httpx

from engine.chat import THINK_CLOSE, THINK_OPEN
from engine.detok import StopMatcher
from engine.errors import ModelError, PromptTooLong
from engine.llm import LLM
from engine.remote_chat import ChatTemplate, in_thought, unmark
from engine.remote_stream import RemoteError, Stream
from engine.sampling import SamplingParams
from engine.sequence import FINISHED, RUNNING, StepOutput

@dataclass(eq=False)
class RemoteSeq:
    id: int
    params: SamplingParams
    prompt: str
    text: str = ""  # everything after the prompt: generated text, stop strings, appended text
    n_prompt: int = 0
    generated: int = 0  # since the last add / append, as for a local sequence
    output_text: str = ""
    output_ids: list[int] = field(default_factory=list)  # ids are not streamed: stays empty
    logprobs: list[float] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)
    status: str = RUNNING
    finish_reason: str | None = None
    stream: Stream | None = None
    stops: StopMatcher | None = None
    base: int = 0  # `generated` when the current request started

    @property
    def finished(self) -> bool:
        return self.status == FINISHED


class RemoteLLM:
    def __init__(self, base_url: str, model: str | None = None, api_key: str | None = None,
                 tokenizer: str | None = "auto", timeout: float = 600.0, logprobs: int = 20):
        base = base_url.rstrip("/")
        self.base_url = base if base.endswith("/v1") else base + "/v1"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(base_url=self.base_url, headers=headers,
                                   timeout=httpx.Timeout(timeout, connect=10.0))
        self.timeout, self.logprobs = timeout, logprobs
        card = self._card(model)
        self.name, self.max_model_len = card["id"], card.get("max_model_len")
        self.tokenizer = _tokenizer(tokenizer, card)
        self.chat = isinstance(self.tokenizer, ChatTemplate)
        self.seqs: dict[int, RemoteSeq] = {}
        self._ids = count()

    # -- sequences ------------------------------------------------------------------------------
    def add(self, prompt: str | list[int], params: SamplingParams | None = None) -> int:
        if isinstance(prompt, list) and not self.chat:  # token ids: the server gets their text
            prompt = self.tokenizer.decode(prompt, skip_special_tokens=False)
        if not isinstance(prompt, str) or not prompt:
            raise ValueError("a remote engine takes a non-empty text prompt")
        seq = RemoteSeq(next(self._ids), params or SamplingParams(), prompt)
        seq.stops = StopMatcher(seq.params.stop)
        if not self.chat:
            seq.n_prompt = len(self.tokenizer.encode(prompt, add_special_tokens=False))
            if self.max_model_len and seq.n_prompt >= self.max_model_len:
                raise PromptTooLong(f"the prompt is {seq.n_prompt} tokens but the model's context "
                                    f"is {self.max_model_len} tokens")
        self.seqs[seq.id] = seq
        return seq.id

    def seq(self, sid: int) -> RemoteSeq:
        return self.seqs[sid]

    def has_running(self) -> bool:
        return any(s.status == RUNNING for s in self.seqs.values())

    def fork(self, sid: int, n: int, params: SamplingParams | None = None) -> list[int]:
        parent, kids = self.seqs[sid], []
        for i in range(n):
            p = params or parent.params
            if params is None and p.seed is not None:
                p = SamplingParams(**{**vars(p), "seed": p.seed + i + 1})
            kid = RemoteSeq(**{**vars(parent), "id": next(self._ids), "params": p, "stream": None,
                               "stops": StopMatcher(p.stop)})
            for name in ("output_ids", "logprobs", "confidences"):
                setattr(kid, name, list(getattr(parent, name)))
            self.seqs[kid.id] = kid
            kids.append(kid.id)
        return kids

    def drop(self, sid: int) -> None:
        seq = self.seqs.pop(sid, None)
        if seq is not None and seq.stream is not None:
            seq.stream.close()

    def append(self, sid: int, text: str, params: SamplingParams | None = None) -> None:
        seq = self.seqs[sid]
        if seq.stream is not None:
            seq.stream.close()
        seq.text += text
        if params is not None:
            seq.params = params
        seq.stream, seq.stops = None, StopMatcher(seq.params.stop)
        seq.generated = 0
        seq.status, seq.finish_reason = RUNNING, None

    # -- the loop -------------------------------------------------------------------------------
    def step(self) -> list[StepOutput]:
        running = [s for s in self.seqs.values() if s.status == RUNNING]
        for s in running:
            if s.stream is None:
                s.stream = self._open(s)
        return [self._next(s) for s in running]

    def _next(self, s: RemoteSeq) -> StepOutput:
        """The sequence's next chunk with something in it, as one StepOutput."""
        while True:
            chunk = s.stream.next(self.timeout)
            if chunk is None:  # the stream ended without a finish reason: the server hung up
                return self._finish(s, StepOutput(s.id, -1, s.stops.flush(), 0.0, 0.0), "stop")
            if s.stream.dropped_logprobs:
                self.logprobs = 0
            choice = (chunk.get("choices") or [{}])[0]
            raw, lps, confs = self._piece(s, choice)
            finish = choice.get("finish_reason")
            if not (raw or finish):
                continue
            s.generated += max(len(lps), 1 if raw else 0)
            s.logprobs += lps
            s.confidences += confs
            text, hit, _ = s.stops.feed(raw)
            out = StepOutput(s.id, -1, text, _mean(lps), _mean(confs))
            if hit is not None:  # a stop string the server did not catch (or chat mode's </think>)
                s.stream.close()
                out.stop_str, out.stop_pos = hit, len(s.output_text) + len(text)
                return self._finish(s, out, "stop")
            if finish:
                reason = choice.get("stop_reason")
                out.stop_str = reason if isinstance(reason, str) and reason in s.params.stop else None
                out.stop_pos = len(s.output_text) + len(text) if out.stop_str else None
                out.text += s.stops.flush()
                usage = s.stream.drain() or chunk.get("usage")  # usage comes last, or with it
                if usage and "completion_tokens" in usage:
                    s.generated = s.base + usage["completion_tokens"]
                if not s.n_prompt and usage:
                    s.n_prompt = usage.get("prompt_tokens", 0)
                return self._finish(s, out, "length" if finish == "length" else "stop")
            s.output_text += text
            s.text += text
            return out

    def _finish(self, s: RemoteSeq, out: StepOutput, reason: str) -> StepOutput:
        s.output_text += out.text
        s.text += out.text + (out.stop_str or "")
        s.status, s.finish_reason, s.stream = FINISHED, reason, None
        out.finished, out.finish_reason = True, reason
        return out

    def _piece(self, s: RemoteSeq, choice: dict) -> tuple[str, list[float], list[float]]:
        """A choice's text as raw model output, with per-token logprobs and confidences."""
        lp = choice.get("logprobs") or {}
        if not self.chat:
            lps = lp.get("token_logprobs") or []
            confs = lp.get("confidence") or [_conf(t) for t in lp.get("top_logprobs") or []]
            return choice.get("text") or "", lps, confs
        entries = lp.get("content") or []
        lps = [e["logprob"] for e in entries]
        confs = [e["confidence"] if "confidence" in e else _conf(e.get("top_logprobs")) for e in entries]
        delta = choice.get("delta") or {}
        reasoning = delta.get("reasoning") or delta.get("reasoning_content") or ""
        content = delta.get("content") or ""
        if reasoning:
            s.stream.reasoned = True
        if content and s.stream.reasoned and in_thought(s.prompt, s.text):
            content = THINK_CLOSE + content  # the server's parser took the tag out
        return reasoning + content, lps, confs

    # -- requests -------------------------------------------------------------------------------
    def _open(self, s: RemoteSeq) -> Stream:
        p, s.base = s.params, s.generated
        body = {"model": self.name, "max_tokens": max(1, p.max_tokens - s.generated),
                "temperature": p.temperature, "top_p": p.top_p, "stream": True,
                "stream_options": {"include_usage": True}}
        extras = {"seed": p.seed, "stop": p.stop or None, "top_k": p.top_k if p.top_k > 0 else None,
                  "min_p": p.min_p or None, "ignore_eos": p.ignore_eos or None,
                  "stop_token_ids": p.stop_token_ids or None,
                  "repetition_penalty": None if p.repetition_penalty == 1 else p.repetition_penalty}
        body.update({k: v for k, v in extras.items() if v is not None})
        if not self.chat:
            body.update(prompt=s.prompt + s.text)
            if self.logprobs:
                body["logprobs"] = self.logprobs
            return Stream(self.client, "/completions", body)
        messages, prefix = unmark(s.prompt)
        think = prefix.strip() == THINK_OPEN
        body.update(messages=messages, think=think, chat_template_kwargs={"enable_thinking": think})
        if s.text:
            body["messages"] = messages + [{"role": "assistant", "content": s.text}]
            body.update(continue_final_message=True, add_generation_prompt=False)
        if self.logprobs:
            body.update(logprobs=True, top_logprobs=self.logprobs)
        return Stream(self.client, "/chat/completions", body)

    def _card(self, model: str | None) -> dict:
        try:
            r = self.client.get("/models")
        except httpx.HTTPError as err:
            raise ModelError(f"can't reach the engine at {self.base_url}: {err}") from None
        if r.status_code >= 400:
            raise ModelError(f"the engine at {self.base_url} answered {r.status_code} to "
                             f"/models: {RemoteError.message(r)}")
        cards = r.json().get("data") or []
        if not cards:
            raise ModelError(f"the engine at {self.base_url} serves no model")
        if model is None:
            return cards[0]
        for card in cards:
            if card.get("id") == model:
                return card
        names = ", ".join(c.get("id", "?") for c in cards)
        raise ModelError(f"the engine at {self.base_url} does not serve '{model}' (it serves {names})")

    def close(self) -> None:
        for sid in list(self.seqs):
            self.drop(sid)
        self.client.close()

    # written against add/step/seqs/drop, which this class provides
    stream = LLM.stream
    generate = LLM.generate


def _tokenizer(spec: str | None, card: dict):
    if spec is None:
        return ChatTemplate()
    from transformers import AutoTokenizer

    if spec != "auto":
        try:
            return AutoTokenizer.from_pretrained(spec)
        except (OSError, ValueError) as err:
            raise ModelError(f"can't load the tokenizer '{spec}': {err}") from None
    # vLLM's root is the model's path or hub id; the served id may be an alias or a hub id too
    candidates = [c for c in dict.fromkeys([card.get("root"), card.get("id")])
                  if isinstance(c, str) and (Path(c).is_dir() or _hub_id(c))]
    for candidate in candidates:
        try:
            return AutoTokenizer.from_pretrained(candidate)
        except Exception:  # best effort (missing files, remote code, offline): chat mode then
            continue
    return ChatTemplate()


def _hub_id(name: str) -> bool:
    return name.count("/") == 1 and not name.startswith(("/", ".", "~")) and " " not in name


def _conf(top: list | dict | None) -> float:
    """DeepConf token confidence from top logprobs: minus their mean."""
    values = list(top.values()) if isinstance(top, dict) else [t["logprob"] for t in top or []]
    return -sum(values) / len(values) if values else 0.0


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0
