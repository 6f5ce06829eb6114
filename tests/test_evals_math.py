"""Math answer extraction and math-verify grading, checked on the real datasets."""
import threading

import pytest

from evals.data import load
from reasoning.answers import last_boxed, math_answer
from evals.grade_math import equivalent
from evals.score import score


@pytest.mark.parametrize("text, want", [
    (r"so \boxed{\frac{1}{2}} and then \boxed{\frac{3}{\sqrt{4}}}.", r"\frac{3}{\sqrt{4}}"),
    (r"\boxed{\left\{ 1, 2 \right\}}", r"\left\{ 1, 2 \right\}"),
    (r"answer: \boxed 7", "7"),
    (r"\boxed{unclosed", None),
    (r"\fbox{12}", "12"),
])
def test_last_boxed_balances_braces(text, want):
    assert last_boxed(text) == want


@pytest.mark.parametrize("text, want", [
    ("She pays 3 + 4 = 7 dollars.\n#### 1,250", "1250"),
    ("There were 12 eggs, then 1,024 of them.", "1024"),
    (r"Tried \boxed{3} first. Final: \boxed{5} so 17 steps", "5"),
    ("<think>maybe \\boxed{4}</think>The answer is 6.", "6"),
    ("no numbers at all", None),
    ("", None),
])
def test_math_answer(text, want):
    assert math_answer(text) == want


@pytest.mark.parametrize("gold, pred", [
    (r"\frac{1}{2}", "0.5"),
    (r"\frac{14}{3}", r"\dfrac{14}{3}"),
    (r"[-2,7]", r"[-2, 7]"),
    (r"\{1,2\}", r"\{2,1\}"),
    (r"\left( 3, \frac{\pi}{2} \right)", r"(3,\pi/2)"),
    ("10", r"10\text{ inches}"),
    ("073", "73"),
])
def test_equivalent_forms(gold, pred):
    assert equivalent(gold, pred)


@pytest.mark.parametrize("gold, pred", [("3", "4"), (r"\frac{1}{2}", "0.52"), ("5", ""), ("5", None),
                                        ("[-2,7]", "(-2,7)")])
def test_different_answers(gold, pred):
    assert not equivalent(gold, pred)


def test_equivalence_off_the_main_thread():
    # math-verify's SIGALRM timeout only works on the main thread; workers must still grade.
    got = []
    t = threading.Thread(target=lambda: got.append(equivalent(r"\frac{1}{2}", "0.5")))
    t.start()
    t.join()
    assert got == [True]


@pytest.mark.parametrize("name", ["gsm8k", "math500", "aime24", "amc23", "arith"])
def test_reference_solutions_score_full_marks_and_empty_scores_zero(name):
    problems = load(name)
    refs = score(problems, [p.reference for p in problems])
    assert [p.id for p, s in zip(problems, refs) if not s.correct] == []
    empty = score(problems, ["" for _ in problems])
    assert not any(s.correct for s in empty)


def test_wrong_answer_is_wrong():
    p = load("gsm8k")[0]  # 18 dollars
    assert [s.correct for s in score([p, p], ["#### 18", "#### 19"])] == [True, False]
