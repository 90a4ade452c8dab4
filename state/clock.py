"""Injected clocks.

Quant and policy code never read the wall clock (DESIGN invariant 7): everything that needs "now"
receives a `Clock`. The replay job drives a `SimulatedClock` along the bars it feeds; tests do the same.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """A source of the current time (timezone-aware, UTC)."""

    def now(self) -> datetime: ...


class WallClock:
    """The real clock, for live runs."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class SimulatedClock:
    """A clock that only moves when told to: replays, evals and tests."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs a timezone-aware start time")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("SimulatedClock.set needs a timezone-aware time")
        if moment < self._now:
            raise ValueError(f"SimulatedClock cannot go backwards ({moment} < {self._now})")
        self._now = moment

    def advance(self, delta: timedelta) -> None:
        self.set(self._now + delta)


def monotonic_ms() -> float:
    """Milliseconds from a monotonic source: for measuring latency only, never for decisions."""
    return time.perf_counter() * 1000.0
