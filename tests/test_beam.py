"""Beam search with the real bundled model."""
from engine import SamplingParams

PROMPT = "The three most important inventions of the nineteenth century were"


def test_one_beam_is_greedy(llm, monkeypatch):
    # both prefill the whole prompt: a prompt resumed from the prefix cache sends its last token
    # through the decode attention (fp32) instead of the bf16 prefill GEMMs, a 1e-2 difference
    monkeypatch.setattr(llm.prefix, "budget", 0)
    greedy = llm.generate([PROMPT], SamplingParams(temperature=0, max_tokens=16, ignore_eos=True))[0]
    (best,) = llm.beam_search(PROMPT, beams=1, max_tokens=16, stop_token_ids=set())
    assert best.token_ids == greedy.token_ids
    assert abs(best.logprob - sum(greedy.logprobs)) < 1e-3
    assert best.text == greedy.text and best.finish_reason == "length"


def test_more_beams_find_a_likelier_sequence(llm):
    greedy = llm.generate([PROMPT], SamplingParams(temperature=0, max_tokens=16, ignore_eos=True))[0]
    hyps = llm.beam_search(PROMPT, beams=4, max_tokens=16, stop_token_ids=set())
    assert len(hyps) == 4 and len({tuple(h.token_ids) for h in hyps}) == 4
    assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
    assert hyps[0].logprob >= sum(greedy.logprobs) - 1e-4
    assert llm.seqs == {} and not llm.has_running()


def test_beams_stop_on_eos_and_leave_other_sequences_alone(llm):
    from engine.chat import build_prompt

    other = llm.add("Once upon a time", SamplingParams(temperature=0, max_tokens=6, ignore_eos=True))
    llm.step()
    prompt = build_prompt(llm.tokenizer, [{"role": "user", "content": "Say hi."}], think=False)
    hyps = llm.beam_search(prompt, beams=3, max_tokens=48, length_penalty=1.0)
    assert hyps[0].finish_reason == "stop" and hyps[0].token_ids[-1] in llm.eos_ids
    assert "<|im_end|>" not in hyps[0].text and hyps[0].text.strip()
    while not llm.seq(other).finished:
        llm.step()
    got = llm.seq(other).output_ids
    llm.drop(other)
    llm.prefix.clear()  # prefilled like `other` was, not a prefix hit that decodes its last token
    want = llm.generate(["Once upon a time"],
                        SamplingParams(temperature=0, max_tokens=6, ignore_eos=True))[0].token_ids
    assert got == want


def test_a_stop_string_finishes_a_hypothesis(llm):
    hyps = llm.beam_search(PROMPT, beams=3, max_tokens=24, stop_token_ids=set(), stop=[","])
    stopped = [h for h in hyps if h.finish_reason == "stop"]
    assert stopped  # the inventions come as a list: every beam meets a comma within 24 tokens
    for h in stopped:  # finished on the token that completed the stop string, not later
        assert h.text.count(",") == 1 and not h.text.split(",", 1)[1].strip()
