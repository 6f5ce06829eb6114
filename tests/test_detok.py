"""Incremental detokenization and stop strings, with the bundled model's real tokenizer (the
`tokenizer` fixture of conftest.py)."""
import random

import pytest

from engine.detok import Detokenizer, StopMatcher

TEXTS = {
    "chinese": "你好，世界！思考",
    "emoji": "👍🏽🎉 and the family 👨‍👩‍👧‍👦!",
    "code": "def f(x):\n    if x:\n\treturn  x\n\n        # indented\n  \t mixed\n",
    "mixed": " Leading space. 思考一下：x² ≥ 0 ✓ 🤔\n    return '你好'  \n",
}


def stream(tokenizer, ids, prompt_ids=()):
    detok = Detokenizer(tokenizer, prompt_ids)
    deltas = [detok.add(i) for i in ids]
    return detok, deltas


@pytest.mark.parametrize("name", TEXTS)
@pytest.mark.parametrize("prompt", ["", "Question: 你好?\nAnswer:", "<|im_start|>assistant\n"])
def test_round_trip(tokenizer, name, prompt):
    text = TEXTS[name]
    ids = tokenizer.encode(text, add_special_tokens=False)
    prompt_ids = tokenizer.encode(prompt, add_special_tokens=False)
    detok, deltas = stream(tokenizer, ids, prompt_ids)
    assert "".join(deltas) == tokenizer.decode(ids) == text
    assert detok.text == text
    assert not any("\ufffd" in d for d in deltas)


def test_partial_characters_are_held_back(tokenizer):
    ids = tokenizer.encode("你好", add_special_tokens=False)
    assert len(ids) == 4  # two byte-level tokens per character
    _, deltas = stream(tokenizer, ids)
    assert deltas == ["", "你", "", "好"]


def test_leading_space_of_first_token_kept(tokenizer):
    prompt_ids = tokenizer.encode("Hello", add_special_tokens=False)
    ids = tokenizer.encode(" world  and\n  more", add_special_tokens=False)
    _, deltas = stream(tokenizer, ids, prompt_ids)
    assert deltas[0] == " world"
    assert "".join(deltas) == " world  and\n  more"


def test_window_stays_small(tokenizer):
    text = "多语言 text with emoji 🎉 and code:\n    x = 1\n" * 40
    ids = tokenizer.encode(text, add_special_tokens=False)
    detok = Detokenizer(tokenizer, ids[:50])
    longest = 0
    for i in ids:
        detok.add(i)
        longest = max(longest, len(detok.window))
    assert detok.text == text
    assert longest <= 8  # only a few tokens are ever re-decoded, not the whole output


def test_copy_continues_independently(tokenizer):
    ids = tokenizer.encode("思考 then 你好 or 👍🏽", add_special_tokens=False)
    cut = next(i for i in range(len(ids)) if "\ufffd" in tokenizer.decode(ids[:i]))
    parent = Detokenizer(tokenizer)
    for i in ids[:cut]:  # stop inside a character: the copy must carry the held bytes
        parent.add(i)
    kid = parent.copy()
    for i in ids[cut:] + tokenizer.encode("!", add_special_tokens=False):
        parent.add(i)
    for i in ids[cut:]:
        kid.add(i)
    assert kid.text == tokenizer.decode(ids)
    assert parent.text == tokenizer.decode(ids) + "!"


def test_special_tokens(tokenizer):
    ids = tokenizer.encode("done", add_special_tokens=False) + [tokenizer.eos_token_id]
    assert "".join(stream(tokenizer, ids)[1]) == "done"
    kept = Detokenizer(tokenizer, skip_special_tokens=False)
    assert "".join(kept.add(i) for i in ids) == "done" + tokenizer.eos_token


def run(matcher, deltas):
    """Feed deltas up to the first stop hit, as the engine does; return (emitted text, hits)."""
    out = []
    for d in deltas:
        text, stop, pos = matcher.feed(d)
        out.append(text)
        if stop is not None:
            return "".join(out), [(stop, pos)]
    return "".join(out), []


def test_stop_split_across_deltas_never_leaks():
    m = StopMatcher(["</answer>"])
    emitted = []
    for d in ["The answer is 4.</", "ans", "wer", "> and more"]:
        text, stop, pos = m.feed(d)
        emitted.append(text)
        assert "<" not in "".join(emitted)
    assert "".join(emitted) == "The answer is 4."
    assert (stop, pos) == ("</answer>", len("The answer is 4."))


def test_multiple_stop_strings():
    stops = ["<|end_search_query|>", "</think>"]
    text, hits = run(StopMatcher(stops), ["Hmm, so </th", "ink>\nThe answer"])
    assert text == "Hmm, so "
    assert hits == [("</think>", 8)]
    deltas = ["<|begin_search_query|>capital of", " France<|end_", "search_query|>"]
    text, hits = run(StopMatcher(stops), deltas)
    assert text == "<|begin_search_query|>capital of France"
    assert hits == [("<|end_search_query|>", len(text))]


def test_prefix_that_diverges_is_emitted_in_full():
    m = StopMatcher(["</answer>"])
    text, hits = run(m, ["x </ans", "wers are", " here </", "a"])
    assert hits == []
    assert text + m.flush() == "x </answers are here </a"
    m = StopMatcher(["</answer>"])
    assert m.feed("tail </answ") == ("tail ", None, None)
    assert m.flush() == "</answ"  # the stream ended for another reason: release the held tail


def test_matching_continues_after_a_hit():
    m = StopMatcher(["STOP"])
    # offsets count every char fed, the dropped "cd" included
    assert m.feed("abSTOPcd") == ("ab", "STOP", 2)
    assert m.feed("ef") == ("ef", None, None)
    assert m.feed("gSTO") == ("g", None, None)
    assert m.feed("P") == ("", "STOP", 11)


def test_first_completed_stop_wins_whatever_the_chunking():
    for deltas in (["xabcd"], ["xab", "cd"], list("xabcd")):
        assert run(StopMatcher(["abcd", "bc"]), deltas) == ("xa", [("bc", 2)])
    rng = random.Random(0)
    stops = ["abcd", "bc", "cab", "dd"]
    for _ in range(500):
        text = "".join(rng.choice("abcdx") for _ in range(rng.randint(0, 16)))
        cuts = sorted(rng.sample(range(len(text) + 1), rng.randint(0, len(text))))
        deltas = [text[i:j] for i, j in zip([0] + cuts, cuts + [len(text)])]
        ends = [(text.find(s) + len(s), -len(s), s) for s in stops if s in text]
        m = StopMatcher(stops)
        emitted, hits = run(m, deltas)
        if ends:
            end, _, stop = min(ends)
            assert (emitted, hits) == (text[: end - len(stop)], [(stop, end - len(stop))])
        else:
            assert hits == []
            assert emitted + m.flush() == text


def test_stop_position_with_real_deltas(tokenizer):
    text = "我想想… Let me search.<|end_search_query|> ignored"
    ids = tokenizer.encode(text, add_special_tokens=False)
    detok, m = Detokenizer(tokenizer), StopMatcher(["<|end_search_query|>"])
    emitted, hits = run(m, [detok.add(i) for i in ids])
    position = text.index("<|end_search_query|>")
    assert (emitted, hits) == (text[:position], [("<|end_search_query|>", position)])
