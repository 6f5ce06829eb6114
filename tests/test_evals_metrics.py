"""pass@k, maj@k, the weighted vote and run summaries against hand-computed values."""
from math import comb

import pytest

from evals.metrics import maj_at_k, pass_at_k, summarize, vote


@pytest.mark.parametrize("n, c, k, want", [
    (5, 2, 1, 0.4),
    (5, 2, 2, 0.7),  # 1 - C(3,2)/C(5,2) = 1 - 3/10
    (5, 2, 3, 0.9),  # 1 - C(3,3)/C(5,3) = 1 - 1/10
    (5, 2, 4, 1.0),  # fewer than 4 wrong samples: some draw of 4 always has a right one
    (10, 3, 5, 1 - 21 / 252),
    (10, 0, 3, 0.0),
    (10, 10, 1, 1.0),
])
def test_pass_at_k_hand_computed(n, c, k, want):
    assert pass_at_k(n, c, k) == pytest.approx(want)


def test_pass_at_k_is_stable_for_large_n():
    n, c, k = 1000, 7, 100
    assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k), rel=1e-9)


def test_pass_at_k_needs_k_samples():
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_vote_groups_equivalent_answers():
    # 1/2 and 0.5 are one answer with two votes and beat 3 (one vote, seen first).
    answers = ["3", r"\frac{1}{2}", None, "0.5"]
    assert answers[vote(answers)] == r"\frac{1}{2}"
    assert vote([None, ""]) is None


def test_weighted_vote_follows_confidence():
    answers = ["7", "7", "9"]
    assert vote(answers, [0.1, 0.2, 0.9]) == 2
    assert vote(answers) == 0


def test_maj_at_k():
    answers, correct = ["4", "5", "5", "4", "4"], [True, False, False, True, True]
    assert maj_at_k(answers, correct, 3) is False  # first three: 5 wins 2-1
    assert maj_at_k(answers, correct, 5) is True
    assert maj_at_k(answers, correct, 3, weights=[5.0, 1.0, 1.0, 1.0, 1.0]) is True


def test_summarize():
    recs = [{"id": 1, "correct": c, "extracted": e, "tokens": 10}
            for c, e in [(True, "2"), (False, "3"), (True, "2"), (False, "4")]]
    recs += [{"id": 2, "correct": c, "extracted": e, "tokens": 30}
             for c, e in [(False, "1"), (False, "1"), (False, "1"), (True, "5")]]
    s = summarize(recs, "math", elapsed=4.0)
    assert s["problems"] == 2 and s["samples"] == 8
    assert s["accuracy"] == pytest.approx((0.5 + 0.25) / 2)
    assert s["pass@1"] == pytest.approx(s["accuracy"])
    assert s["pass@2"] == pytest.approx(((1 - 1 / 6) + 0.5) / 2)  # C(2,2)/C(4,2); C(3,2)/C(4,2)
    assert s["pass@4"] == 1.0
    assert s["maj@4"] == 0.5  # problem 1 votes 2 (right), problem 2 votes 1 (wrong)
    assert s["tokens_per_problem"] == 80 and s["tok_per_s"] == 40
    assert "weighted@4" not in s
    conf = [dict(r, confidence=1.0) for r in recs]
    conf[-1]["confidence"] = 10.0  # the lone right answer of problem 2 now outweighs the rest
    assert summarize(conf, "math")["weighted@4"] == 1.0


def test_summarize_code_has_no_vote():
    recs = [{"id": "a", "correct": True, "extracted": "def f(): pass"},
            {"id": "a", "correct": False, "extracted": "def f(): 1"}]
    s = summarize(recs, "code")
    assert s["pass@2"] == 1.0 and "maj@2" not in s
