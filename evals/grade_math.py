"""Math answers are compared with math-verify (LaTeX, fractions, intervals, sets, units), never by
string equality alone."""
from __future__ import annotations

import logging
import threading

from math_verify import parse, verify

TIMEOUT = 5  # seconds per parse / compare; math-verify enforces it with SIGALRM
# Its warning that the timeout is off is about the worker-thread case handled below, on purpose.
logging.getLogger("math_verify").setLevel(logging.ERROR)


def _timeout() -> int | None:
    # SIGALRM only works on the main thread; elsewhere math-verify would raise, so run without it
    # (the extracted answers are short, and a pathological one only slows a worker down).
    return TIMEOUT if threading.current_thread() is threading.main_thread() else None


def _parse(answer: str, timeout):
    return parse(f"\\boxed{{{answer}}}", parsing_timeout=timeout)


def equivalent(gold: str, pred: str | None) -> bool:
    if not pred or not pred.strip():
        return False
    timeout = _timeout()
    try:
        return bool(verify(_parse(gold, timeout), _parse(pred, timeout), timeout_seconds=timeout))
    except Exception:  # a timeout or a parser crash on odd model text is just a wrong answer
        return False
