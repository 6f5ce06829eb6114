"""Greedy equalities with the real bundled model in fp32: batching, fork, append and drop must not
change what a sequence generates, token for token."""
import pytest

from engine import SamplingParams

GREEDY = SamplingParams(temperature=0, max_tokens=24, ignore_eos=True)
PROMPTS = ["The capital of France is", "def fibonacci(n):\n    ", "写一首关于秋天的诗：",
           "Once upon a time, a small robot"]


@pytest.fixture
def llm(exact_llm):
    return exact_llm


def run_to_end(llm, sids):
    while any(not llm.seq(s).finished for s in sids):
        llm.step()


def test_batch_equals_single(llm):
    batch = llm.generate(PROMPTS, GREEDY)
    for prompt, out in zip(PROMPTS, batch):
        single = llm.generate([prompt], GREEDY)[0]
        assert single.token_ids == out.token_ids
        assert single.text == out.text
        assert len(out.token_ids) == GREEDY.max_tokens and out.finish_reason == "length"


def test_fork_then_continue_equals_decoding_from_scratch(llm):
    sid = llm.add(PROMPTS[3], SamplingParams(temperature=0, max_tokens=8, ignore_eos=True))
    run_to_end(llm, [sid])
    prefix = list(llm.seq(sid).token_ids)
    kids = llm.fork(sid, 3)
    for s in [sid, *kids]:
        llm.append(s, [], GREEDY)  # run again with a fresh budget
    run_to_end(llm, [sid, *kids])
    outs = [llm.seq(s).token_ids[len(prefix):] for s in [sid, *kids]]
    for s in [sid, *kids]:
        llm.drop(s)
    scratch = llm.generate([prefix], GREEDY)[0]
    assert all(o == scratch.token_ids for o in outs)


def test_fork_of_a_fresh_prompt_shares_the_prefill(llm):
    sid = llm.add(PROMPTS[0], GREEDY)
    kids = llm.fork(sid, 2)
    assert all(llm.seq(k).cached == llm.seq(sid).cached > 0 for k in kids)  # KV copied, not redone
    run_to_end(llm, [sid, *kids])
    texts = {llm.seq(s).output_text for s in [sid, *kids]}
    for s in [sid, *kids]:
        llm.drop(s)
    assert texts == {llm.generate([PROMPTS[0]], GREEDY)[0].text}


def test_append_equals_prefilling_the_concatenation(llm):
    sid = llm.add(PROMPTS[0], SamplingParams(temperature=0, max_tokens=6, ignore_eos=True))
    run_to_end(llm, [sid])
    extra = llm.encode(" Now a question about Germany: its capital is")
    llm.append(sid, extra, GREEDY)
    assert llm.seq(sid).pending[-len(extra):] == extra  # only these (and the last sample) prefill
    full = list(llm.seq(sid).token_ids)
    run_to_end(llm, [sid])
    appended = llm.seq(sid).token_ids[len(full):]
    llm.drop(sid)
    assert appended == llm.generate([full], GREEDY)[0].token_ids


def test_drop_mid_decode_leaves_the_others_untouched(llm):
    sids = [llm.add(p, GREEDY) for p in PROMPTS]
    for _ in range(5):
        llm.step()
    llm.drop(sids[1])  # a low slot: the last sequence's KV moves into it
    run_to_end(llm, [sids[0], sids[2], sids[3]])
    got = [llm.seq(s).output_text for s in (sids[0], sids[2], sids[3])]
    for s in (sids[0], sids[2], sids[3]):
        llm.drop(s)
    want = [o.text for o in llm.generate([PROMPTS[0], PROMPTS[2], PROMPTS[3]], GREEDY)]
    assert got == want


def test_stop_string_and_its_position(llm):
    full = llm.generate([PROMPTS[1]], GREEDY)[0].text
    stop = full[8:12]
    assert stop.strip(), full
    out = llm.generate([PROMPTS[1]], SamplingParams(temperature=0, max_tokens=24, stop=[stop]))[0]
    cut = full.index(stop)
    assert out.text == full[:cut] and out.finish_reason == "stop"
    events = list(llm.stream(PROMPTS[1], SamplingParams(temperature=0, max_tokens=24, stop=[stop])))
    assert "".join(e.text for e in events) == full[:cut]
    assert events[-1].stop_str == stop and events[-1].stop_pos == cut
    assert all(stop not in e.text for e in events)


def test_stream_is_detokenized_incrementally(llm):
    # (the byte-level round trips of Chinese and emoji are pinned in test_detok.py)
    events = list(llm.stream(PROMPTS[2], GREEDY))
    text = "".join(e.text for e in events)
    ids = [e.token_id for e in events]
    assert text == llm.tokenizer.decode(ids, skip_special_tokens=True)
    assert all(e.confidence > 0 and e.logprob <= 0 for e in events)


def test_seeded_sampling_is_reproducible_in_any_batch(llm):
    p = SamplingParams(temperature=0.9, top_p=0.95, seed=7, max_tokens=16, ignore_eos=True)
    alone = llm.generate([PROMPTS[3]], p)[0].token_ids
    with_others = llm.generate([PROMPTS[0], PROMPTS[3]], [GREEDY, p])[1].token_ids
    other_seed = llm.generate([PROMPTS[3]], SamplingParams(**{**vars(p), "seed": 8}))[0].token_ids
    assert alone == with_others
    assert alone != other_seed


def test_eos_stops_and_is_not_text(llm):
    from engine.chat import build_prompt

    prompt = build_prompt(llm.tokenizer, [{"role": "user", "content": "Say hi."}], think=False)
    out = llm.generate([prompt], SamplingParams(temperature=0, max_tokens=64))[0]
    assert out.finish_reason == "stop" and out.token_ids[-1] in llm.eos_ids
    assert "<|im_end|>" not in out.text and out.text.strip()


def test_forks_read_their_parents_prefix_and_survive_its_drop_and_slot_reuse(llm):
    """Forked rows read the prompt's KV from their parent's slot (runner.base / shared); dropping
    the parent (its slot taken by the last row's move) and reusing a freed slot for another prompt
    must leave every branch generating what it would alone."""
    runner = llm.runner
    sid = llm.add(PROMPTS[3], GREEDY)
    kids = llm.fork(sid, 3)
    n = llm.seq(sid).cached
    parent = llm.seq(sid).slot
    assert [(runner.base[llm.seq(k).slot], runner.shared[llm.seq(k).slot]) for k in kids] == \
        [(parent, n)] * 3
    assert runner._share(4) is not None  # the eager native step reads the shared prefix
    for _ in range(4):
        llm.step()
    llm.drop(sid)  # the last kid moves into the parent's slot; the others read from it now
    assert llm.seq(kids[-1]).slot == parent
    assert [(runner.base[llm.seq(k).slot], runner.shared[llm.seq(k).slot]) for k in kids] == \
        [(parent, n)] * 2 + [(parent, 0)]
    other = llm.add(PROMPTS[1], GREEDY)  # a new prompt in the freed slot
    for _ in range(3):
        llm.step()
    assert runner.base[llm.seq(other).slot] == llm.seq(other).slot  # reads only its own
    llm.drop(kids[-1])  # the slot the others read from now holds the other prompt (moved in)
    assert llm.seq(other).slot == parent
    assert all(runner.base[llm.seq(k).slot] == llm.seq(k).slot for k in kids[:2])
    run_to_end(llm, [*kids[:2], other])
    got = [llm.seq(s).output_text for s in [*kids[:2], other]]
    for s in [*kids[:2], other]:
        llm.drop(s)
    want = [o.text for o in llm.generate([PROMPTS[3], PROMPTS[1]], GREEDY)]
    assert got == [want[0]] * 2 + [want[1]]
