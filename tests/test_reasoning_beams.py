"""`--beams N`: an answer decoded by the engine's beam search, through the one event stream, with
the real bundled model."""
import json

import pytest

from engine.chat import build_prompt
from reasoning import Options, run
from reasoning.graph import CLOSE_THOUGHT
from tests.test_cli_ask import sikao

QUESTION = "Name three primary colours."


def test_the_answer_is_the_best_beam(llm):
    events = list(run(llm, QUESTION, Options(beams=3, max_tokens=12)))
    kinds = [type(e).__name__ for e in events]
    assert kinds[:2] == ["Notice", "AnswerDelta"] and kinds[-1] == "Done"
    assert events[0].kind == "beams" and "3 beams" in events[0].message
    prompt = build_prompt(llm.tokenizer, [{"role": "user", "content": QUESTION}], think=False)
    best = llm.beam_search(prompt, beams=3, max_tokens=12)[0]
    done = events[-1]
    assert done.answer == best.text.strip() and events[1].text == best.text
    n = len(best.token_ids) - (best.finish_reason == "stop")
    assert done.stats.answer_tokens == n and done.stats.complete
    assert not llm.seqs  # beam search leaves no sequence behind


def test_thinking_is_searched_then_closed_then_the_answer(llm):
    o = Options(beams=2, think=True, max_thinking_tokens=6, max_tokens=5)
    events = list(run(llm, QUESTION, o))
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "ThinkingDelta" and "AnswerDelta" in kinds and kinds[-1] == "Done"
    thought, answer, done = events[0].text, events[kinds.index("AnswerDelta")].text, events[-1]
    assert done.reasoning == thought.strip() and done.answer == answer.strip()
    # the answer is the beam search of the prompt with the thought closed, as the sampled path does
    prompt = build_prompt(llm.tokenizer, [{"role": "user", "content": QUESTION}], think=True)
    want = llm.beam_search(prompt + thought + CLOSE_THOUGHT, beams=2, max_tokens=5)[0]
    assert answer == want.text
    assert 0 < done.stats.thinking_tokens <= 6 and 0 < done.stats.answer_tokens <= 5


@pytest.mark.parametrize("extra", [{"search": "first"}, {"branches": 2}])
def test_beams_take_no_search_and_no_branches(extra):
    with pytest.raises(ValueError, match="decode mode of its own: use it with --search off"):
        Options(beams=2, **extra)


def test_ask_with_beams_from_the_command_line():
    r = sikao("ask", "--beams", "2", "--length-penalty", "0.5", "--max-tokens", "8", "--json",
              "--no-log", QUESTION)
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert events[0]["kind"] == "beams" and "length penalty 0.5" in events[0]["message"]
    assert events[-1]["type"] == "Done" and events[-1]["answer"]
    r = sikao("ask", "--beams", "2", "--search", "first", "hi")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "decode mode of its own" in r.stderr
