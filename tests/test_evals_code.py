"""Code grading: extraction from model-style outputs and the official tests, run for real."""
import time

import pytest

from evals.data import load
from evals.extract import code_block
from evals.score import score

HE0 = '''Here is my solution.

```python
from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    return any(abs(a - b) < threshold
               for i, a in enumerate(numbers) for j, b in enumerate(numbers) if i != j)
```

Example:
```python
print(has_close_elements([1.0, 2.0], 0.5))
```'''


def test_code_block_prefers_the_block_defining_the_function():
    code = code_block(HE0, "has_close_elements")
    assert code.lstrip().startswith("from typing") and "print(" not in code


def test_code_block_bare_and_unclosed_fences():
    assert code_block("    return 1\n", "f") == "    return 1\n"
    assert code_block("<think>```python\nbad\n```</think>```python\ndef f():\n    return 2\n",
                      "f").strip() == "def f():\n    return 2"


def test_humaneval_outputs_in_model_style():
    problems = load("humaneval")
    p = problems[0]
    wrong = HE0.replace("< threshold", "> threshold")
    got = score([p, p, p, p], [HE0, wrong, p.reference, "I don't know."])
    assert [s.correct for s in got] == [True, False, True, False]
    assert "def has_close_elements" in got[0].extracted


def test_mbpp_outputs_in_model_style():
    p = load("mbpp")[0]
    fenced = f"Sure:\n```python\n{p.reference}\n```\nDone."
    got = score([p, p], [fenced, "```python\ndef similar_elements(a, b):\n    return ()\n```"])
    assert [s.correct for s in got] == [True, False]


@pytest.mark.parametrize("name", ["humaneval", "mbpp"])
def test_canonical_solutions_all_pass_and_empty_all_fail(name):
    problems = load(name)
    t = time.monotonic()
    got = score(problems, [p.reference for p in problems])
    assert [p.id for p, s in zip(problems, got) if not s.correct] == []
    assert time.monotonic() - t < 120
    empty = score(problems, ["" for _ in problems])
    assert not any(s.correct for s in empty) and {s.status for s in empty} == {"empty"}
