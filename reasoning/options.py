from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Options:
    """What a front end asks of one answer. Every field is also a CLI flag / config key."""

    think: bool = False
    search: str = "off"  # off | first | agentic | auto
    branches: int = 1
    max_thinking_tokens: int = 1024
    max_tokens: int = 512  # answer budget
    max_searches: int = 5
    wall_time: float | None = None  # seconds for the whole answer
    temperature: float = 0.6  # R1's recommendation
    top_p: float = 0.95
    seed: int | None = None
    system: str | None = None
