"""What the model is asked for each kind of benchmark problem (user turns; the chat template and
the thinking rules come from engine.chat)."""
from __future__ import annotations

from evals.data import Problem

BOXED = "Please reason step by step, and put your final answer within \\boxed{}."


def user_message(problem: Problem) -> str:
    if problem.kind == "math":
        return f"{problem.question}\n{BOXED}"
    t = problem.tests
    if "prompt" in t:  # HumanEval: complete the function given by its signature and docstring
        return ("Complete the following Python function. Reply with the whole function, including "
                f"its imports, in one ```python code block.\n\n```python\n{t['prompt']}```")
    tests = "\n".join(t["test_list"])
    return (f"You are an expert Python programmer, and here is your task: {problem.question} "
            f"Your code should pass these tests:\n\n{tests}\n\n"
            "Reply with the code in one ```python code block.")
