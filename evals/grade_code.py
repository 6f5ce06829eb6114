"""Code answers: the function pulled from the output, run against the dataset's official tests in
the sandbox."""
from __future__ import annotations

from evals.data import Problem
from evals.extract import code_block


def program(problem: Problem, output: str) -> tuple[str, str]:
    """(the extracted code, the full test program to run)."""
    t = problem.tests
    code = code_block(output, t.get("entry_point"))
    if "prompt" in t:  # HumanEval
        # The prompt comes first: it holds imports and helpers, and its stub (a docstring-only
        # def) is valid Python that a full function in the output simply redefines.
        return code, f"{t['prompt']}{code}\n\n{t['test']}\n\ncheck({t['entry_point']})\n"
    imports = "\n".join(t.get("test_imports", []))
    tests = t.get("test") or "\n".join(t["test_list"])
    return code, f"{imports}\n{code}\n\n{tests}\n"
