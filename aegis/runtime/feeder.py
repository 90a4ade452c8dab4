"""The feeder of a scaled-out deployment: plays a tape into the shared state and the bus.

Ticks (MARKET_TICK) update the market context (Redis, mirrored to PostgreSQL) and the paper broker (fills
at the next bar, brackets; orders placed by the workers are reloaded each day); every other event is
published on the bus for the workers, in the class its priority names (`state.bus.base`). One feeder, many
workers: the feeder applies the ticks so that they keep one order; a tick that is published instead takes the
workers' fast path (`aegis.runtime.worker`), never a session. With a live screen (`aegis feed --screen`, for
a tape of ticks only: a recorded tape holds its signals already), each tick applied is screened and the
signals found are published like the tape's own events (`aegis.runtime.live_screen`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aegis.pipeline import Pipeline, as_tick
from aegis.runtime.live_screen import LiveScreen
from state.bus.base import EventBus


@dataclass
class FeedStats:
    ticks: int = 0
    published: int = 0
    signals: int = 0  # found by the live screen (counted in `published` too)


async def feed_tape(
    pipeline: Pipeline, bus: EventBus, lines: Iterable[str], screen: LiveScreen | None = None
) -> FeedStats:
    feed = pipeline.market_feed(reload_orders=True)
    stats = FeedStats()
    for line in lines:
        if not line.strip():
            continue
        try:
            raw: Any = json.loads(line)
        except json.JSONDecodeError as exc:
            raw = {"id": None, "unparsed_line": line[:500], "error": exc.msg}  # the workers record it as rejected
        tick = as_tick(raw) if isinstance(raw, dict) else None
        if tick is not None:
            await feed.bar(tick.symbol or "", tick.payload.bar)
            stats.ticks += 1
            for signal in screen.bar(tick.symbol or "", tick.payload.bar) if screen is not None else ():
                await bus.publish(signal)
                stats.published += 1
                stats.signals += 1
            continue
        await bus.publish(raw if isinstance(raw, dict) else {"value": raw})
        stats.published += 1
    return stats
