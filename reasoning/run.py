"""`run()`: the one entry point every front end drives. It turns a conversation into the typed
event stream of reasoning/events.py: thinking, then the answer, each with its budget."""
from __future__ import annotations

import time
from typing import Iterator

from engine.chat import THINK_CLOSE, build_prompt
from engine.sampling import SamplingParams
from reasoning.events import AnswerDelta, Done, Event, Notice, Stats, ThinkingDelta
from reasoning.options import Options


def run(llm, messages: list[dict] | str, opts: Options | None = None) -> Iterator[Event]:
    opts = opts or Options()
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    prompt = build_prompt(llm.tokenizer, messages, think=opts.think, system=opts.system)
    started = time.monotonic()
    stats = Stats(model=llm.name, finish_reason="interrupted")
    thinking, answer = [], []

    def params(max_tokens: int, stop: list[str]) -> SamplingParams:
        return SamplingParams(temperature=opts.temperature, top_p=opts.top_p, seed=opts.seed,
                              max_tokens=max_tokens, stop=stop)

    sid = llm.add(prompt, params(opts.max_thinking_tokens if opts.think else opts.max_tokens,
                                 [THINK_CLOSE] if opts.think else []))
    stats.prompt_tokens = llm.seq(sid).n_prompt
    try:
        if opts.think:
            reason = yield from _phase(llm, sid, ThinkingDelta, thinking)
            stats.thinking_tokens = llm.seq(sid).generated
            if reason == "length":
                yield Notice("thinking_budget", f"thinking stopped at the {opts.max_thinking_tokens}"
                                                "-token budget; answering now")
                llm.append(sid, "\n" + THINK_CLOSE + "\n\n", params(opts.max_tokens, []))
            else:
                llm.append(sid, "\n\n", params(opts.max_tokens, []))
        reason = yield from _phase(llm, sid, AnswerDelta, answer)
        stats.answer_tokens = llm.seq(sid).generated
        if reason == "length":
            yield Notice("answer_budget", f"the answer stopped at the {opts.max_tokens}-token budget")
        stats.finish_reason = reason
    finally:
        llm.drop(sid)
        stats.elapsed = time.monotonic() - started
        made = stats.thinking_tokens + stats.answer_tokens
        stats.tok_per_s = made / stats.elapsed if stats.elapsed else 0.0
    yield Done(answer="".join(answer).strip(), reasoning="".join(thinking).strip(), stats=stats)


def _phase(llm, sid: int, kind, sink: list[str]):
    """Stream one sequence until it stops; returns the finish reason."""
    while True:
        for out in llm.step():
            if out.seq_id != sid:
                continue
            if out.text:
                sink.append(out.text)
                yield kind(out.text, confidence=out.confidence)
            if out.finished:
                return out.finish_reason
