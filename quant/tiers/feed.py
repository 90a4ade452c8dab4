"""Feed disconnect tiers (AEGIS v3.1 section 4): how long the market feed has been silent, and what follows.

This module owns the tier of a feed outage and the memory of it. The gap is measured on the feed connection's
heartbeats, never on bar or tick times (a one-minute bar is legitimately a minute old): ``gap = now - last
heartbeat``, in seconds. It decides; it never cancels orders, closes positions or halts anything itself, and it
never reads the clock: every moment is a timezone-aware datetime passed in.

Tiers, by the gap (each boundary belongs to the milder tier: "over 3 s" means strictly more than 3 s):

- ``gap <= 3 s``: ``NORMAL``, nothing to do (a feed back within 3 s is not an outage);
- ``3 s < gap <= 10 s``: ``CACHED``, continue on cached data (the reading carries the cached data's age);
- ``10 s < gap <= 30 s``: ``CANCEL_AND_CLOSE``, cancel all orders and start closing positions;
- ``gap > 30 s``: ``HALT``, halt trading; it holds until an explicit ``reset``, even after the feed is back.

``FeedWatch`` is an immutable record of one connection: each heartbeat gives a new watch. An *outage* opens
with the first gap over 3 s and stays open, remembering the worst tier its gaps reached, until a heartbeat
arrives after a ``NORMAL`` gap: the first heartbeat back may be a flap, the next one on time confirms the feed.
That confirming heartbeat's watch carries ``ended_outage`` ("outage over, worst was X"), so a feed back after
15 s reports that closing was started. The worst tier is the tier of the longest gap, whether or not anyone
read the watch during it: tiers are a function of the heartbeats and the time, not of polling.

Decisions that must not be silently changed:
- ``HALT`` latches: a gap over 30 s (closed by a heartbeat) sets ``halted``, and only ``reset`` clears it. A
  reset forgets the past; it cannot excuse a gap still open, which halts again if it closes over 30 s.
- A heartbeat not newer than the last one (stale, or a duplicate) is ignored: it cannot confirm a return. A
  ``now`` earlier than the last heartbeat reads as a gap of 0 s. A NaN gap is ``HALT`` (fail closed).

Pure: no I/O, no clock, imports nothing from the project outside ``quant.tiers``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from quant.tiers._common import check_seconds, elapsed_s, require_aware


class FeedTier(StrEnum):
    NORMAL = "normal"  # gap <= 3 s
    CACHED = "cached"  # 3 s < gap <= 10 s: continue on cached data
    CANCEL_AND_CLOSE = "cancel_and_close"  # 10 s < gap <= 30 s: cancel all orders, start closing
    HALT = "halt"  # gap > 30 s: halt; only a reset resumes

    @property
    def level(self) -> int:
        """Higher is more severe: NORMAL 0 ... HALT 3."""
        return _LEVEL[self]


_LEVEL = {tier: level for level, tier in enumerate(FeedTier)}


def _worse(a: FeedTier, b: FeedTier) -> FeedTier:
    return a if a.level >= b.level else b


@dataclass(frozen=True, slots=True)
class FeedThresholds:
    """Heartbeat gaps in seconds; each is exclusive ("over 3 s"), so a gap equal to it stays in the milder tier."""

    cached_over_s: float = 3.0
    cancel_over_s: float = 10.0
    halt_over_s: float = 30.0

    def __post_init__(self) -> None:
        for name in ("cached_over_s", "cancel_over_s", "halt_over_s"):
            check_seconds(name, getattr(self, name))
        if not self.cached_over_s <= self.cancel_over_s <= self.halt_over_s:
            raise ValueError(f"need cached_over_s <= cancel_over_s <= halt_over_s, got {self}")


def feed_tier(gap_s: float, thresholds: FeedThresholds = FeedThresholds()) -> FeedTier:
    """The tier of a heartbeat gap of ``gap_s`` seconds. A NaN gap is ``HALT`` (fail closed)."""
    if math.isnan(gap_s) or gap_s > thresholds.halt_over_s:
        return FeedTier.HALT
    if gap_s > thresholds.cancel_over_s:
        return FeedTier.CANCEL_AND_CLOSE
    if gap_s > thresholds.cached_over_s:
        return FeedTier.CACHED
    return FeedTier.NORMAL


@dataclass(frozen=True, slots=True)
class FeedOutage:
    """A finished outage. ``started_at``: the last heartbeat before the first gap over 3 s; ``back_at``: the first
    heartbeat after the last such gap; ``confirmed_at``: the on-time heartbeat that closed the outage."""

    started_at: datetime
    back_at: datetime
    confirmed_at: datetime
    worst: FeedTier

    @property
    def silent_s(self) -> float:
        """Seconds from the start of the outage to the feed's return (flaps in between included)."""
        return elapsed_s(self.started_at, self.back_at)


@dataclass(frozen=True, slots=True)
class FeedReading:
    """What the watch says at one moment.

    ``tier`` is what to do now: ``HALT`` while halted, else the tier of the open gap. ``gap_s`` is the seconds
    since the last heartbeat. ``outage_worst`` is the worst tier of the open outage, the open gap included
    (``NORMAL`` when no outage is open) and ``outage_since`` its start. ``cached_data_age_s`` is the seconds since
    the cached data's as-of time (None when the caller gave none).
    """

    tier: FeedTier
    gap_s: float
    outage_worst: FeedTier
    outage_since: datetime | None
    halted: bool
    cached_data_age_s: float | None


@dataclass(frozen=True, slots=True)
class FeedWatch:
    """One feed connection's heartbeats, as an immutable value: ``heartbeat`` and ``reset`` return new watches.

    Start one at the connection's first heartbeat: ``FeedWatch(last_heartbeat_at=first)``. ``outage_since`` and
    ``outage_worst`` describe the open outage (None and ``NORMAL`` when there is none, counting only gaps closed
    by a heartbeat; ``reading`` adds the open gap). ``ended_outage`` is the outage the latest heartbeat closed,
    else None.
    """

    last_heartbeat_at: datetime
    outage_since: datetime | None = None
    outage_worst: FeedTier = FeedTier.NORMAL
    halted: bool = False
    ended_outage: FeedOutage | None = None

    def __post_init__(self) -> None:
        require_aware(self.last_heartbeat_at, "last_heartbeat_at")
        if self.outage_since is not None:
            require_aware(self.outage_since, "outage_since")
        if (self.outage_since is None) != (self.outage_worst is FeedTier.NORMAL):
            raise ValueError("an open outage needs both outage_since and a worst tier above NORMAL")
        if self.ended_outage is not None and self.outage_since is not None:
            raise ValueError("a heartbeat that ended an outage leaves none open")

    def heartbeat(self, at: datetime, thresholds: FeedThresholds = FeedThresholds()) -> FeedWatch:
        """The watch after a heartbeat at ``at``. A gap over 3 s opens or extends the outage; a ``NORMAL`` gap
        closes it (``ended_outage``). A heartbeat not newer than the last one is ignored."""
        require_aware(at, "at")
        if at <= self.last_heartbeat_at:
            return self
        gap = feed_tier(elapsed_s(self.last_heartbeat_at, at), thresholds)
        if gap is FeedTier.NORMAL:
            ended = None
            if self.outage_since is not None:
                ended = FeedOutage(self.outage_since, self.last_heartbeat_at, at, self.outage_worst)
            return FeedWatch(last_heartbeat_at=at, halted=self.halted, ended_outage=ended)
        return FeedWatch(
            last_heartbeat_at=at,
            outage_since=self.last_heartbeat_at if self.outage_since is None else self.outage_since,
            outage_worst=_worse(self.outage_worst, gap),
            halted=self.halted or gap is FeedTier.HALT,
        )

    def reading(
        self, now: datetime, thresholds: FeedThresholds = FeedThresholds(), cached_as_of: datetime | None = None
    ) -> FeedReading:
        """The tier, the gap and the outage at ``now``; ``cached_as_of`` is when the cached data was current."""
        require_aware(now, "now")
        gap_s = elapsed_s(self.last_heartbeat_at, now)
        open_gap = feed_tier(gap_s, thresholds)
        since = self.outage_since
        if since is None and open_gap is not FeedTier.NORMAL:
            since = self.last_heartbeat_at
        age_s = None
        if cached_as_of is not None:
            require_aware(cached_as_of, "cached_as_of")
            age_s = elapsed_s(cached_as_of, now)
        return FeedReading(
            tier=FeedTier.HALT if self.halted else open_gap,
            gap_s=gap_s,
            outage_worst=_worse(self.outage_worst, open_gap),
            outage_since=since,
            halted=self.halted,
            cached_data_age_s=age_s,
        )

    def tier(self, now: datetime, thresholds: FeedThresholds = FeedThresholds()) -> FeedTier:
        """What to do at ``now``: ``reading(now, thresholds).tier``."""
        return self.reading(now, thresholds).tier

    def reset(self) -> FeedWatch:
        """The watch after an operator's reset: the halt latch and the outage record are cleared, the last
        heartbeat is kept (so a gap still open keeps counting)."""
        return replace(self, outage_since=None, outage_worst=FeedTier.NORMAL, halted=False, ended_outage=None)
