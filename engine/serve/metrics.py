"""Prometheus text exposition (format 0.0.4) for the server's counters, gauges and histograms.

Small enough to write here rather than pull in prometheus_client. Updates come from the event
loop and the engine thread, so each metric guards its numbers with a lock."""
from __future__ import annotations

import threading
from bisect import bisect_left

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Metric:
    kind = ""

    def __init__(self, name: str, help: str):
        self.name, self.help = name, help
        self.lock = threading.Lock()

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]


class Counter(Metric):
    """A counter, optionally split by labels: inc(status="200")."""
    kind = "counter"

    def __init__(self, name: str, help: str):
        super().__init__(name, help)
        self.values: dict[tuple, float] = {}

    def inc(self, n: float = 1, **labels) -> None:
        key = tuple(sorted(labels.items()))
        with self.lock:
            self.values[key] = self.values.get(key, 0) + n

    def get(self, **labels) -> float:
        return self.values.get(tuple(sorted(labels.items())), 0)

    def lines(self) -> list[str]:
        with self.lock:
            items = sorted(self.values.items()) or [((), 0)]
        return self.header() + [f"{self.name}{_labels(k)} {_num(v)}" for k, v in items]


class Gauge(Metric):
    kind = "gauge"

    def __init__(self, name: str, help: str):
        super().__init__(name, help)
        self.value = 0.0

    def set(self, value: float) -> None:
        self.value = value

    def lines(self) -> list[str]:
        return self.header() + [f"{self.name} {_num(self.value)}"]


class Histogram(Metric):
    """Cumulative buckets, so a scraper can derive any quantile (P50, P99) over any window."""
    kind = "histogram"

    def __init__(self, name: str, help: str, buckets: tuple = LATENCY_BUCKETS):
        super().__init__(name, help)
        self.bounds = tuple(sorted(buckets))
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        with self.lock:
            self.counts[bisect_left(self.bounds, value)] += 1
            self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def lines(self) -> list[str]:
        with self.lock:
            counts, total = list(self.counts), self.sum
        out, running = self.header(), 0
        for bound, n in zip([*map(_num, self.bounds), "+Inf"], counts):
            running += n
            out.append(f'{self.name}_bucket{{le="{bound}"}} {running}')
        return out + [f"{self.name}_sum {_num(total)}", f"{self.name}_count {running}"]


class Metrics:
    """Everything /metrics reports."""

    def __init__(self):
        self.requests = Counter("sikao_requests_total", "HTTP requests by endpoint and status code.")
        self.prompt_tokens = Counter("sikao_prompt_tokens_total", "Prompt tokens of admitted requests.")
        self.generation_tokens = Counter("sikao_generation_tokens_total", "Tokens generated.")
        self.ttft = Histogram("sikao_time_to_first_token_seconds",
                              "From the request's arrival to its first generated token.")
        self.latency = Histogram("sikao_request_latency_seconds",
                                 "From the request's arrival to its last byte of output.")
        self.queue_depth = Gauge("sikao_queue_depth", "Requests waiting to join the batch.")
        self.running = Gauge("sikao_running_sequences", "Sequences in the decode batch.")
        self.batch_size = Histogram("sikao_batch_size", "Sequences per engine step.", BATCH_BUCKETS)
        self.steps = Counter("sikao_engine_steps_total", "Engine steps.")
        self.batched_steps = Counter("sikao_engine_batched_steps_total",
                                     "Engine steps that ran more than one sequence.")
        self.cache = Counter("sikao_cache_total", "Response cache lookups by result (hit, miss).")

    def render(self) -> str:
        lines = []
        for metric in vars(self).values():
            lines += metric.lines()
        return "\n".join(lines) + "\n"


def _labels(key: tuple) -> str:
    if not key:
        return ""
    inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in key)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
