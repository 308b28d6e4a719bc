"""Latency and rate bookkeeping for the SMF simulator and the PFCP benchmark."""

from __future__ import annotations

import math
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


def percentile(sorted_values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of an ascending list; 0.0 when empty."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(slots=True)
class PhaseStats:
    """One phase (establish, modify, delete): outcomes, causes, latencies, wall time and the
    generator's own CPU time (process time: what a request costs the load generator)."""

    name: str
    latencies_s: array[float] = field(default_factory=lambda: array("d"))
    causes: Counter[str] = field(default_factory=Counter)
    offending_ies: Counter[int] = field(default_factory=Counter)  # IE type -> rejections
    ok: int = 0
    failed: int = 0
    timeouts: int = 0
    elapsed_s: float = 0.0
    cpu_s: float = 0.0

    def record(self, latency_s: float, cause: str, accepted: bool) -> None:
        self.latencies_s.append(latency_s)
        self.causes[cause] += 1
        if accepted:
            self.ok += 1
        else:
            self.failed += 1

    def timeout(self) -> None:
        self.timeouts += 1
        self.causes["TIMEOUT"] += 1

    @property
    def count(self) -> int:
        return self.ok + self.failed + self.timeouts

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_s)
        rate = self.count / self.elapsed_s if self.elapsed_s > 0 else 0.0
        out: dict[str, Any] = {
            "count": self.count,
            "accepted": self.ok,
            "rejected": self.failed,
            "timeouts": self.timeouts,
            "causes": dict(sorted(self.causes.items())),
            "elapsed_s": round(self.elapsed_s, 4),
            "per_s": round(rate, 1),
            "p50_ms": round(percentile(lat, 50) * 1e3, 3),
            "p90_ms": round(percentile(lat, 90) * 1e3, 3),
            "p99_ms": round(percentile(lat, 99) * 1e3, 3),
            "max_ms": round(lat[-1] * 1e3, 3) if lat else 0.0,
            "cpu_s": round(self.cpu_s, 4),
            "cpu_us_per_request": round(self.cpu_s / self.count * 1e6, 1) if self.count else 0.0,
        }
        if self.offending_ies:
            out["offending_ies"] = {str(t): n for t, n in sorted(self.offending_ies.items())}
        return out
