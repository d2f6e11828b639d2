"""The figures the engine aims for, read against the floor of the same run."""

from __future__ import annotations

from dataclasses import dataclass

from messai_console.bench.measure import BenchResult


@dataclass(frozen=True)
class Verdict:
    target: str
    """What is aimed for: ">= 2.5" (a ratio of the floor), "<= 0.4 ms", "<= 400 B"."""
    value: float
    met: bool


# (ratio key, limit): a ratio of the floor that must be reached
RATIO_TARGETS: tuple[tuple[str, float], ...] = (
    ("enqueue_single", 0.75),
    ("enqueue_bulk", 0.7),
    ("drain_noop_c1", 1.0),
    ("drain_redis_call_c1", 0.6),
    ("drain_redis_call_c50", 2.5),
)
LATENCY_P50_MS = 0.4
LATENCY_P99_MS = 0.7
MEMORY_BYTES = {"embedded": 340.0}
"""Per waiting job with a 200-byte payload, by server configuration (default: 400)."""
DEFAULT_MEMORY_BYTES = 400.0


def verdicts(result: BenchResult) -> dict[str, Verdict]:
    """Each target the run measured, by figure key (ratio keys, latency_*, memory)."""
    found: dict[str, Verdict] = {}
    ratios = result.ratios()
    for key, limit in RATIO_TARGETS:
        if key in ratios:
            found[key] = Verdict(f">= {limit}", ratios[key], ratios[key] >= limit)
    if result.latency_ms:
        p50, p99 = result.latency_ms["p50"], result.latency_ms["p99"]
        found["latency_p50"] = Verdict(f"p50 <= {LATENCY_P50_MS} ms", p50, p50 <= LATENCY_P50_MS)
        found["latency_p99"] = Verdict(f"p99 <= {LATENCY_P99_MS} ms", p99, p99 <= LATENCY_P99_MS)
    if result.memory_bytes_per_job:
        configuration = result.server.configuration if result.server else "unknown"
        limit = MEMORY_BYTES.get(configuration, DEFAULT_MEMORY_BYTES)
        found["memory"] = Verdict(
            f"<= {limit:.0f} B",
            result.memory_bytes_per_job,
            result.memory_bytes_per_job <= limit,
        )
    return found
