"""Backoff for servers that ask us to slow down (429) or are briefly down (5xx)."""
from __future__ import annotations

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


def backoff(attempt: int, retry_after: str | None = None, base: float = 0.5, cap: float = 8.0) -> float:
    """Seconds to wait before retry number `attempt` (0-based); honours a numeric Retry-After."""
    if retry_after and retry_after.strip().isdigit():
        return min(float(retry_after), cap)
    return min(base * 2**attempt, cap)
