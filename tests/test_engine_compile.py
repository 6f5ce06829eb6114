"""The compiled decode step (`EngineConfig(compile=True)`, `sikao serve --compile`) decodes what
the eager one does, on both decode paths: rows of many lengths and rows of one length (forks)."""
import pytest

from engine import LLM, EngineConfig, SamplingParams

GREEDY = SamplingParams(temperature=0, max_tokens=16, ignore_eos=True)
PROMPTS = ["The capital of France is", "def fibonacci(n):\n    "]


def ragged(engine):
    return [o.token_ids for o in engine.generate(PROMPTS, GREEDY)]


def forked(engine):
    sid = engine.add(PROMPTS[0], GREEDY)
    sids = [sid, *engine.fork(sid, 2)]
    while engine.has_running():
        engine.step()
    out = [engine.seq(s).output_ids for s in sids]
    for s in sids:
        engine.drop(s)
    return out


@pytest.mark.slow  # the compile takes ~35 s here
def test_compiled_step_decodes_like_the_eager_one(llm, monkeypatch):
    compiled = LLM(EngineConfig(compile=True))
    assert compiled.quant == llm.quant and compiled.runner.step is not compiled.model
    monkeypatch.setattr(llm.prefix, "budget", 0)  # both engines prefill every prompt alike
    compiled.prefix.budget = 0
    assert ragged(compiled) == ragged(llm)
    assert forked(compiled) == forked(llm)
