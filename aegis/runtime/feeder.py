"""The feeder of a scaled-out deployment: plays a tape into the shared state and the bus.

Ticks (MARKET_TICK) update the market context (Redis, mirrored to PostgreSQL) and the paper broker (fills
at the next bar, brackets; orders placed by the workers are reloaded each day); every other event is
published on the bus for the workers, in the class its priority names (`state.bus.base`). One feeder, many
workers: the feeder applies the ticks so that they keep one order; a tick that is published instead takes the
workers' fast path (`aegis.runtime.worker`), never a session. With a live screen (`aegis feed --screen`, for
a tape of ticks only: a recorded tape holds its signals already), each tick applied is screened and the
signals found are published like the tape's own events (`aegis.runtime.live_screen`). `aegis feed` plays the
tape as a supervised task that the health monitor restarts when its last tick is too old (`TapeFeeder`), in
batches of lines whose market writes go together (no transaction or round trip per tick).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from aegis.pipeline import Pipeline, as_tick
from aegis.runtime.live_screen import LiveScreen
from aegis.runtime.supervised_task import SupervisedTask
from state.bus.base import EventBus
from state.tiered_hot import HeldWrites

TICKS_PER_BATCH = 100  # lines applied together (capped at the hot window): their market writes go as one


@dataclass
class FeedStats:
    ticks: int = 0
    published: int = 0
    signals: int = 0  # found by the live screen (counted in `published` too)


class TapeFeeder:
    """Plays a tape's lines from where it stopped: run as a `SupervisedTask` (`play` beats at each line), a
    restart after a stall resumes after the last line whose writes were sent. The lines of a batch are applied
    one by one (the broker's fills, its orders' and fills' transactions, the watches: as apart), and the market
    writes they cause (bars, hot values, marks) are sent together at the batch's end, or earlier when a read
    needs them (`TieredHot.batch`) or before an event is published (the workers see the market it comes
    after). The lines after the last sending are done again on a restart: a tick the hot store holds already
    counts as applied, an event published again is the same event (its id is the
    idempotency key: the session returns the first decision)."""

    def __init__(
        self, pipeline: Pipeline, bus: EventBus, lines: Sequence[str] = (), screen: LiveScreen | None = None
    ) -> None:
        self._pipeline = pipeline
        self._bus = bus
        self._lines = lines
        self._screen = screen
        self._feed = pipeline.market_feed(reload_orders=True)
        self.position = 0  # the next line to play: the first of the batch in progress
        self.batch = TICKS_PER_BATCH
        self._held: HeldWrites | None = None  # the batch in progress
        self._index = 0  # the line in progress
        self._counted = FeedStats()  # the stats as of `position`
        self.stats = FeedStats()

    async def play(self, task: SupervisedTask | None = None) -> None:
        hot = self._pipeline.services.hot
        size = max(1, min(self.batch, hot.window))  # a redo's refused bars are still in the hot window
        while self.position < len(self._lines):
            end = min(self.position + size, len(self._lines))
            self._counted = replace(self.stats)
            try:
                async with hot.batch() as self._held:
                    for index in range(self.position, end):
                        self._index = index
                        await self._line(self._lines[index])
                        if task is not None:
                            task.beat()
                    self._index = end
                    await self._settle()
            except BaseException:
                self.stats = self._counted  # the lines from `position` are done again: counted then
                raise
            finally:
                self._held = None

    async def _settle(self) -> None:
        """The lines before `_index` are done: their writes sent (the bars the hot store refused judged as
        `apply` judges one), so a restart resumes at `_index`. Outside `play`: the writes sent, if held."""
        hot = self._pipeline.services.hot
        await hot.flush()
        if self._held is None:
            return
        for symbol, bar in self._held.refused:
            if bar not in await hot.bars(symbol):
                raise ValueError(f"{symbol}: bar at {bar.time} is not after the symbol's last one")
        self._held.refused.clear()
        self.position, self._counted = self._index, replace(self.stats)

    async def _line(self, line: str) -> None:
        if not line.strip():
            return
        try:
            raw: Any = json.loads(line)
        except json.JSONDecodeError as exc:
            raw = {"id": None, "unparsed_line": line[:500], "error": exc.msg}  # the workers record it as rejected
        await self.apply(raw)

    async def apply(self, raw: Any) -> None:
        """One event as the tape's lines are played: a tick applied, anything else published (a live feed's
        events and dead letters take this same path: `aegis.runtime.live_feed`)."""
        tick = as_tick(raw) if isinstance(raw, dict) else None
        if tick is None:
            await self._settle()  # the workers see the market this event comes after
            await self._bus.publish(raw if isinstance(raw, dict) else {"value": raw})
            self.stats.published += 1
            return
        symbol, bar = tick.symbol or "", tick.payload.bar
        try:
            await self._feed.bar(symbol, bar)
        except ValueError:  # not after the symbol's last bar: applied already (a restart's redo) or out of order
            if bar not in await self._pipeline.services.hot.bars(symbol):
                raise
        self.stats.ticks += 1
        for signal in self._screen.bar(symbol, bar) if self._screen is not None else ():
            await self._settle()
            await self._bus.publish(signal)
            self.stats.published += 1
            self.stats.signals += 1


async def feed_tape(
    pipeline: Pipeline, bus: EventBus, lines: Iterable[str], screen: LiveScreen | None = None
) -> FeedStats:
    feeder = TapeFeeder(pipeline, bus, list(lines), screen)
    await feeder.play()
    return feeder.stats
