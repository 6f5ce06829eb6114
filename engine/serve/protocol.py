"""OpenAI request bodies → what the server runs (`Job`), with OpenAI-style errors for bad input.

Extra body fields for sikao's own modes ride along where other clients never look: `think`
(or vLLM's `chat_template_kwargs.enable_thinking`), `search` ("first" | "agentic" | "auto"),
`branches`, `max_thinking_tokens`; vLLM's `top_k`, `min_p`, `repetition_penalty`, `ignore_eos`,
`stop_token_ids` and `continue_final_message` are understood too."""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.chat import THINK_CLOSE, THINK_OPEN, build_prompt, thinks_natively
from engine.sampling import SamplingParams

ROLES = ("system", "user", "assistant", "developer", "tool")
SEARCH_MODES = ("off", "first", "agentic", "auto")


class ApiError(Exception):
    def __init__(self, status: int, message: str, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}


@dataclass
class Limits:
    max_tokens: int  # the most a request may ask for
    default_tokens: int  # when it asks for none
    models: tuple[str, ...]  # names the served model answers to


@dataclass
class Job:
    kind: str  # "chat" | "completion"
    model: str
    prompt: str
    params: SamplingParams
    stream: bool = False
    include_usage: bool = False
    logprobs: bool = False
    thinking: bool = False  # the prompt ends inside <think>: output is reasoning until </think>
    messages: list[dict] = field(default_factory=list)
    think: bool = False
    search: str = "off"
    branches: int = 1
    max_thinking_tokens: int | None = None

    @property
    def graph(self) -> bool:
        """Run through reasoning.run (search inside the thought, parallel branches)."""
        return self.search != "off" or self.branches > 1

    def cache_key(self) -> tuple | None:
        if not self.params.greedy or self.graph:
            return None
        p = {k: v for k, v in vars(self.params).items() if k != "seed"}
        return (self.kind, self.prompt, self.logprobs, tuple(sorted((k, repr(v)) for k, v in p.items())))


def parse_chat(body, tokenizer, limits: Limits) -> Job:
    body = _object(body)
    model = _model(body, limits)
    messages = _messages(body.get("messages"))
    think = body.get("think")
    kwargs = body.get("chat_template_kwargs")
    if think is None and isinstance(kwargs, dict):
        think = kwargs.get("enable_thinking")
    think = thinks_natively(tokenizer) if think is None else bool(think)
    continued = messages[-1] if body.get("continue_final_message") else None
    if continued is not None and continued["role"] != "assistant":
        raise ApiError(400, "continue_final_message needs the last message to be the assistant's",
                       param="messages")
    history = messages[:-1] if continued else messages
    if not history:
        raise ApiError(400, "messages must hold at least one message before the one continued",
                       param="messages")
    prompt = build_prompt(tokenizer, history, think=think) + (continued["content"] if continued else "")
    search = body.get("search", "off")
    search = {True: "auto", False: "off", None: "off"}.get(search, search)
    if search not in SEARCH_MODES:
        raise ApiError(400, f"search must be one of {', '.join(SEARCH_MODES)}", param="search")
    branches = _int(body, "branches", 1, 1, 64)
    job = Job("chat", model, prompt, _params(body, limits), messages=messages, think=think,
              search=search, branches=branches,
              max_thinking_tokens=_int(body, "max_thinking_tokens", None, 1, limits.max_tokens),
              thinking=prompt.rfind(THINK_OPEN) > prompt.rfind(THINK_CLOSE),
              logprobs=bool(body.get("logprobs")))
    return _stream_fields(job, body)


def parse_completion(body, limits: Limits) -> Job:
    body = _object(body)
    model = _model(body, limits)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt:
        raise ApiError(400, "prompt must be a non-empty string (one prompt per request)",
                       param="prompt", code="invalid_prompt")
    if body.get("echo") or body.get("suffix"):
        raise ApiError(400, "echo and suffix are not supported", param="echo")
    job = Job("completion", model, prompt, _params(body, limits),
              logprobs=body.get("logprobs") not in (None, False, 0))
    return _stream_fields(job, body)


def _object(body) -> dict:
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


def _model(body: dict, limits: Limits) -> str:
    model = body.get("model")
    if model is None:
        return limits.models[0]
    if model not in limits.models:
        raise ApiError(404, f"The model '{model}' does not exist; this server serves "
                            f"'{limits.models[0]}'", param="model", code="model_not_found")
    return limits.models[0]


def _messages(messages) -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages must be a non-empty list", param="messages")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise ApiError(400, f"messages[{i}] needs a role ({', '.join(ROLES)})",
                           param=f"messages[{i}].role")
        content = m.get("content")
        if isinstance(content, list):  # content parts: keep the text ones
            content = "".join(p.get("text", "") for p in content
                              if isinstance(p, dict) and p.get("type") == "text")
        if content is None:
            content = ""
        if not isinstance(content, str):
            raise ApiError(400, f"messages[{i}].content must be a string or a list of text parts",
                           param=f"messages[{i}].content")
        role = "system" if m["role"] == "developer" else "user" if m["role"] == "tool" else m["role"]
        out.append({"role": role, "content": content})
    return out


def _params(body: dict, limits: Limits) -> SamplingParams:
    if body.get("n") not in (None, 1):
        raise ApiError(400, "only n = 1 is supported", param="n")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    param = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    if max_tokens is None:
        max_tokens = limits.default_tokens
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise ApiError(400, f"{param} must be a positive integer", param=param)
    if max_tokens > limits.max_tokens:
        raise ApiError(400, f"{param} is {max_tokens} but this server allows at most "
                            f"{limits.max_tokens}", param=param)
    names = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "min_p": 0.0,
             "repetition_penalty": 1.0, "seed": None, "stop": [], "stop_token_ids": [],
             "ignore_eos": False}
    values = {k: body[k] if body.get(k) is not None else default for k, default in names.items()}
    for k in ("temperature", "top_p", "min_p", "repetition_penalty"):
        if isinstance(values[k], bool) or not isinstance(values[k], (int, float)):
            raise ApiError(400, f"{k} must be a number", param=k)
    if not isinstance(values["stop"], (str, list)):
        raise ApiError(400, "stop must be a string or a list of strings", param="stop")
    try:
        return SamplingParams(max_tokens=max_tokens, **values)
    except (ValueError, TypeError) as err:
        raise ApiError(400, str(err), param=str(err).split(" ")[0]) from None


def _int(body: dict, name: str, default, low: int, high: int):
    value = body.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ApiError(400, f"{name} must be an integer from {low} to {high}", param=name)
    return value


def _stream_fields(job: Job, body: dict) -> Job:
    job.stream = bool(body.get("stream"))
    options = body.get("stream_options")
    job.include_usage = job.stream and isinstance(options, dict) and bool(options.get("include_usage"))
    return job
