"""The dynamic inference graph on synthetic confidence streams: pruning at the right step, the
warm-up threshold presets, duplicate steps, and a vote that the weights decide."""
import pytest

from reasoning import Options, run
from reasoning.dig_conf import Confidence, percentile
from reasoning.dig_graph import normalise, vote
from reasoning.events import (AnswerDelta, BranchFinished, BranchPruned, BranchStarted, Done, Vote)
from tests.reasoning_double import Scripted


def tokens(text: str, conf: float) -> list:
    return [(t, conf) for t in text]


def branched(tokenizer, scripts, **opts):
    llm = Scripted(tokenizer, [("", scripts[0])], forks=scripts[1:])
    events = list(run(llm, "What is 1 + 2?", Options(branches=len(scripts), **opts)))
    assert isinstance(events[-1], Done) and llm.seqs == {}
    return llm, events


def of(events, kind):
    return [e for e in events if isinstance(e, kind)]


def test_group_confidence_is_a_sliding_mean_and_score_its_lowest_full_window():
    c = Confidence(window=2)
    for x in (4.0, 2.0, 6.0, 6.0):
        c.add(x)
    assert c.group == 6.0 and c.score == 3.0
    short = Confidence(window=10)
    short.add(1.0), short.add(3.0)
    assert short.score == 2.0 and short.lowest == float("inf")
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 90) == pytest.approx(4.6)
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 10) == pytest.approx(1.4)


def test_answers_normalise_boxed_then_last_number_then_text():
    assert normalise("so it is \\boxed{3}.") == "3"
    assert normalise("1 + 2 = 3") == "3"
    assert normalise("  Paris. ") == normalise("paris") == "paris"
    assert vote([(0, "3", 0.5), (1, "4", 0.9), (2, "3", 0.3)]) == ("4", {"3": 0.8, "4": 0.9})


def test_low_branch_is_dropped_at_the_right_step(tokenizer):
    good = tokens("ab\n\ncd\n\n\\boxed{3}", 5.0)
    # steps: "x" (tokens 1-3), then "y…": its 2-token window falls under 1.0 at its 6th token
    low = [("x", 5.0), ("\n", 5.0), ("\n", 5.0), ("y", 5.0), ("z", 0.5), ("z", 0.5), ("z", 0.5)]
    llm, events = branched(tokenizer, [good, good, low], window=2, prune_threshold=1.0)
    started = of(events, BranchStarted)
    assert [e.branch for e in started] == [0, 1, 2]
    (pruned,) = of(events, BranchPruned)
    assert (pruned.branch, pruned.step, pruned.reason) == (2, 1, "low confidence")
    assert pruned.confidence == pytest.approx(0.5) and pruned.threshold == 1.0
    # dropped from the engine at once: it ran 6 tokens and streamed nothing after
    assert len(llm.dropped[2].outputs) == 6
    after = events[events.index(pruned):]
    assert not any(e.branch == 2 for e in of(after, AnswerDelta))
    assert {e.branch for e in of(events, BranchFinished)} == {0, 1}
    v = of(events, Vote)[0]
    assert v.answer == "3" and set(v.weights) == {"3"}
    nodes = v.graph["nodes"]
    assert any(n.get("pruned") and n.get("branch") == 2 for n in nodes)
    (ans,) = [n for n in nodes if n["kind"] == "answer"]
    assert ans["branches"] == [0, 1] and ans["answer"] == "3"
    ids = {n["id"] for n in nodes}
    assert all(e["source"] in ids and e["target"] in ids for e in v.graph["edges"])
    done = events[-1]
    assert done.answer == "ab\n\ncd\n\n\\boxed{3}" and done.stats.pruned == 1 and done.stats.branches == 3


def test_weights_change_the_vote(tokenizer):
    weak, strong = tokens("\\boxed{3}", 0.2), tokens("\\boxed{4}", 3.0)
    _, events = branched(tokenizer, [weak, weak, strong], prune="off")
    v = of(events, Vote)[0]
    assert v.answer == "4" and v.weights == {"3": pytest.approx(0.4), "4": pytest.approx(3.0)}
    assert events[-1].answer == "\\boxed{4}"
    _, events = branched(tokenizer, [tokens("\\boxed{3}", 1.0)] * 2 + [tokens("\\boxed{4}", 1.0)],
                         prune="off")
    assert of(events, Vote)[0].answer == "3"  # equal confidence: the majority


@pytest.mark.parametrize("preset, pruned", [("low", {2, 3}), ("high", {3})])
def test_warmup_branches_set_the_threshold(tokenizer, preset, pruned):
    # Warm-up branches 0 and 1 (short, never pruned) score 2.0 and 4.0: low → 90th percentile
    # 3.8, high → 10th percentile 2.2. Branches 2 (3.0) and 3 (1.0) run on past that point.
    scripts = [tokens("\\boxed{1}", 2.0)[:3], tokens("\\boxed{1}", 4.0)[:3],
               tokens("\\boxed{2}" * 3, 3.0), tokens("\\boxed{2}" * 3, 1.0)]
    _, events = branched(tokenizer, scripts, window=2, warmup=2, prune=preset)
    cut = of(events, BranchPruned)
    assert {e.branch for e in cut} == pruned
    assert all(e.threshold == pytest.approx(3.8 if preset == "low" else 2.2) for e in cut)


def test_the_last_branch_standing_is_never_pruned(tokenizer):
    _, events = branched(tokenizer, [tokens("\\boxed{5}", 0.1)] * 3, window=1, prune_threshold=9.0)
    assert len(of(events, BranchPruned)) == 2 and len(of(events, BranchFinished)) == 1
    assert of(events, Vote)[0].answer == "5"


def test_duplicate_steps_prune(tokenizer):
    same = tokens("step one\n\nstep two\n\n\\boxed{7}", 1.0)
    other = tokens("other one\n\nother two\n\n\\boxed{7}", 1.0)
    _, events = branched(tokenizer, [same, other, same], prune="off", dedup_steps=2)
    (cut,) = of(events, BranchPruned)
    assert (cut.branch, cut.reason, cut.step) == (2, "duplicate steps", 2)


def test_branches_think_then_answer_each_on_its_own_sequence(tokenizer):
    script = [("hm", 1.0), ("</think>", 1.0), ("\\boxed{2}", 1.0)]
    llm, events = branched(tokenizer, [script, script], think=True, prune="off")
    assert {(e.branch, e.text) for e in of(events, AnswerDelta)} == {(0, "\\boxed{2}"), (1, "\\boxed{2}")}
    assert all("</think>\n\n\\boxed{2}" in s.context for s in llm.dropped.values())
    assert len(llm.prompts) == 1  # one prefill, the rest forked
    stats = events[-1].stats
    assert (stats.thinking_tokens, stats.answer_tokens) == (4, 4) and events[-1].reasoning == "hm"
