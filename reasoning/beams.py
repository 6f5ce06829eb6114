"""Beam search as the decode mode of an answer (`--beams N`): the reply is the most likely
continuation the engine's beam search finds (engine/beam.py) instead of a sample.

With thinking on it runs in the R1 shape the sampled path has: the thought is searched under the
thinking budget and cut at `</think>`, the block is closed, and the answer is searched under the
answer budget from there. A beam can be overtaken until the last step, so nothing streams: each
phase shows its best hypothesis when it ends, after a Notice saying what the search did. Searching
and branches are decode modes of their own and do not combine with it (Options says so)."""
from __future__ import annotations

from typing import Iterator

from engine.chat import THINK_CLOSE
from engine.errors import EngineError
from reasoning.events import AnswerDelta, Event, Notice, ThinkingDelta
from reasoning.graph import CLOSE_THOUGHT, budget_notice
from reasoning.live import Live


def beam_answer(live: Live) -> Iterator[Event]:
    o, llm, s = live.opts, live.llm, live.stats
    if not hasattr(llm, "beam_search"):
        raise EngineError("beam search needs the local engine: a remote server decodes by sampling")
    prompt = live.prompt()
    s.prompt_tokens = len(llm.encode(prompt))
    if o.think:
        best = _best(live, prompt, o.max_thinking_tokens, stop=[THINK_CLOSE])
        thought = best.text.partition(THINK_CLOSE)[0]
        s.thinking_tokens = len(llm.encode(thought)) if THINK_CLOSE in best.text else _count(best)
        live.thinking.append(thought)
        yield ThinkingDelta(thought)
        if best.finish_reason == "length":  # the block never closed
            yield budget_notice(o, "think")
        prompt += thought + CLOSE_THOUGHT
    best = _best(live, prompt, o.max_tokens)
    s.answer_tokens = _count(best)
    s.finish_reason = best.finish_reason
    yield Notice("beams", f"beam search: the best of {o.beams} beams (logprob "
                          f"{best.logprob:.2f} over {len(best.token_ids)} tokens, length penalty "
                          f"{o.length_penalty:g})")
    live.answer.append(best.text)
    yield AnswerDelta(best.text)
    if best.finish_reason == "length":
        yield budget_notice(o, "answer")


def _count(best) -> int:
    """Generated tokens, less the stop token a finished hypothesis ends with."""
    return len(best.token_ids) - (best.finish_reason == "stop")


def _best(live: Live, prompt: str, budget: int, stop: list[str] = ()):
    o = live.opts
    return live.llm.beam_search(prompt, beams=o.beams, max_tokens=budget,
                                length_penalty=o.length_penalty, stop=stop)[0]
