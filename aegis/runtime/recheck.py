"""When a time-driven poll of a durable record must read it again.

The feed's clock moves a step per market moment: a replay of minute bars, or of many days, steps far faster
than the records it polls change (the trading states' ends, a posture override's end, the alerts that can
escalate). A `Recheck` remembers, from the last read, when the record can next change by time alone, and
says a read is needed only:
- when the feed's clock reaches that time (an end, an escalation step: never late on the feed's clock);
- when this process changed the record since (its control's `revision` moved on);
- when `every_s` seconds of wall time have passed since the last read (another process may have changed it:
  that is how late such a change is seen at most);
- before the first read (a read that failed is not a read: the caller marks only a completed one).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Recheck"]

RECHECK_S = 1.0  # wall seconds: how late a change made by another process is seen, at most


class Recheck:
    def __init__(self, every_s: float | None = None, wall: Callable[[], float] = time.monotonic) -> None:
        self._every_s = every_s  # None: `RECHECK_S`
        self._wall = wall
        self._next: datetime | None = None  # None: read at the next step
        self._revision = 0
        self._read_at = 0.0

    def needed(self, now: datetime, revision: int = 0) -> bool:
        """A read is due at `now` (the feed's clock), with this process's writes at `revision`."""
        return (
            self._next is None
            or now >= self._next
            or revision != self._revision
            or self._wall() - self._read_at >= (RECHECK_S if self._every_s is None else self._every_s)
        )

    def read(self, next_change: datetime | None, revision: int = 0) -> None:
        """The record was read (and acted on) at `revision`; by time alone it changes next at `next_change`
        (None: never)."""
        self._next = next_change if next_change is not None else datetime.max.replace(tzinfo=UTC)
        self._revision = revision
        self._read_at = self._wall()
