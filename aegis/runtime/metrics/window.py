"""Recent stage latencies for the dashboard's p50 / p95 / p99 table: a fixed-size window per stage.

A histogram's buckets answer "how many under 0.5 s" across all time; the dashboard wants the percentiles of
the last few hundred sessions. Memory is bounded: `size` samples per stage, the oldest dropped first.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

PERCENTILES = (50, 95, 99)


class LatencyWindow:
    def __init__(self, size: int = 1024) -> None:
        if size < 1:
            raise ValueError(f"a latency window holds at least one sample, not {size}")
        self._size = size
        self._samples: dict[str, deque[float]] = {}
        self._lock = threading.Lock()  # the scrape may come from the metrics server's thread

    def add(self, stage: str, latency_ms: float) -> None:
        with self._lock:
            self._samples.setdefault(stage, deque(maxlen=self._size)).append(latency_ms)

    def percentiles(self) -> dict[str, dict[str, float]]:
        """Per stage: p50, p95, p99 (milliseconds) and `samples` (how many the window holds)."""
        with self._lock:
            held = {stage: list(samples) for stage, samples in self._samples.items()}
        table: dict[str, dict[str, float]] = {}
        for stage, samples in sorted(held.items()):
            values = np.percentile(np.asarray(samples, dtype=float), PERCENTILES)
            row = {f"p{p}": float(v) for p, v in zip(PERCENTILES, values, strict=True)}
            table[stage] = {**row, "samples": float(len(samples))}
        return table
