"""The hot context with its durable fallback: Redis first, PostgreSQL when Redis fails or lacks a key.

`TieredHot` implements the `HotStore` protocol, so the feed, the sessions and the persist step use it as
they would use Redis. With a mirror (the durable store), every write also goes to the durable copy
(`market_bars`, `hot_values`), and every read that the hot store cannot serve (it is down, or the key is
missing) is served from that copy instead, saying so. Without a mirror (the embedded default, where the hot
store lives in the process and cannot fail on its own) it is a thin pass-through.

A write that reaches the durable copy but not the hot store is not an error: the session will read the
durable copy. A write that reaches neither raises: nothing is silently lost. While the hot store is down,
that is said once (then counted, summarised at most every minute and when it answers again), not once per
write: a day of bars is a dozen writes.

A feed writes in batches (`batch()`): its bars and values are held in memory and sent together, the durable
copy's first (one transaction: `state.store.sql_market`, with the broker's marks), then the hot store's (one
round trip), instead of a statement and a round trip or two per tick. A read through this object that would
miss a held write (a held symbol's bars, a held value) sends the batch first, so this process reads its own
writes as before; other processes see a batch once it is sent. Redoing a batch is harmless: a bar is
insert-or-ignore in the durable copy and refused by the hot store when it is not after the last one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from state.clock import Clock
from state.events import Bar
from state.hot import JSON, HotSnapshot, HotStore, HotStoreUnavailableError
from state.store.base import DurableStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Served:
    """Where a read was served from: "hot", or "durable" with the reason the hot store did not serve it."""

    source: str
    reason: str | None = None

    def __str__(self) -> str:
        return self.source if self.reason is None else f"{self.source} ({self.reason})"


HOT = Served("hot")


class RepeatedWarning:
    """A warning about a condition that lasts: the first occurrence is logged as it comes; repeats are
    counted and summarised ("... (repeated N times in the last M s)") at most every `every_s` seconds and
    when the condition clears. Seconds are wall time (`monotonic`), not the trading clock: they pace the
    operator's log."""

    def __init__(
        self,
        logger: logging.Logger,
        summary: str,
        every_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._summary = summary
        self._every_s = every_s
        self._monotonic = monotonic
        self._active = False
        self._repeats = 0
        self._since = 0.0  # start of the period the repeats are counted over
        self._last = ""

    def warn(self, message: str, *args: object) -> None:
        now = self._monotonic()
        if not self._active:
            self._active, self._repeats, self._since = True, 0, now
            self._log.warning(message, *args)
            return
        self._repeats += 1
        self._last = message % args if args else message
        if now - self._since >= self._every_s:
            self._report(now)

    def clear(self, message: str) -> None:
        """The condition is over: summarise the repeats not yet reported, then say so."""
        if not self._active:
            return
        self._report(self._monotonic())
        self._active = False
        self._log.info(message)

    def _report(self, now: float) -> None:
        if self._repeats:
            self._log.warning(
                "%s (repeated %d times in the last %.0f s); the last: %s",
                self._summary,
                self._repeats,
                now - self._since,
                self._last,
            )
        self._repeats, self._since = 0, now


@dataclass
class HeldWrites:
    """A batch's writes not yet sent (bars in order; values by key, the last set of each: value, ttl_s, written
    at), and the bars the hot store refused when they were."""

    bars: list[tuple[str, Bar]] = field(default_factory=list)
    values: dict[str, tuple[JSON, float | None, datetime]] = field(default_factory=dict)
    refused: list[tuple[str, Bar]] = field(default_factory=list)

    def symbols(self) -> set[str]:
        return {symbol for symbol, _ in self.bars}


class TieredHot:
    def __init__(
        self,
        hot: HotStore,
        clock: Clock,
        mirror: DurableStore | None = None,
        window: int = 120,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hot = hot
        self.mirror = mirror
        self.window = window
        self._clock = clock
        self._hot_down = RepeatedWarning(
            log, "hot store unavailable, writes kept in the durable copy only", monotonic=monotonic
        )
        self._held: HeldWrites | None = None  # the current batch's writes, not yet sent

    def _hot_answered(self) -> None:
        self._hot_down.clear("hot store available again")

    # ---- batches -------------------------------------------------------------------------------

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[HeldWrites]:
        """Hold this block's writes back and send them together at its end (see the module): the durable
        copy's in one transaction, the hot store's in one round trip. The block's bars that the hot store
        refused (not after their symbol's last one: a redo, or out of order) are in the yielded `refused`;
        the caller decides, as it would on `push_bar`'s ValueError. If the block raises, what it held is
        still sent (as it would have been, write by write); a redo of the block writes it again, unchanged."""
        if self._held is not None:  # nested: the outer block sends
            yield self._held
            return
        held = self._held = HeldWrites()
        marks = self.mirror.marks_behind() if self.mirror is not None else nullcontext()
        try:
            async with marks:
                try:
                    yield held
                except BaseException:
                    with suppress(Exception):  # sent as it would have been; the block's own error is raised
                        await self.flush()
                    raise
                await self.flush()
        finally:
            self._held = None

    async def flush(self) -> None:
        """Send what the current batch holds (nothing outside one). Reads do it first when they would
        otherwise miss a held write; so does the feeder before it publishes an event."""
        held = self._held
        if held is None or not (held.bars or held.values):
            return
        bars, values = held.bars, held.values
        held.bars, held.values = [], {}
        held.refused.extend(await self._send(bars, [(key, *written) for key, written in values.items()]))

    async def push_batch(
        self, bars: Sequence[tuple[str, Bar]], values: Sequence[tuple[str, JSON, float | None]] = ()
    ) -> list[tuple[str, Bar]]:
        """`HotStore.push_batch`, the durable copy first (one transaction), as `push_bar` does for one bar."""
        await self.flush()
        now = self._clock.now()
        return await self._send(bars, [(key, value, ttl_s, now) for key, value, ttl_s in values])

    async def _send(
        self, bars: Sequence[tuple[str, Bar]], values: Sequence[tuple[str, JSON, float | None, datetime]]
    ) -> list[tuple[str, Bar]]:
        if self.mirror is not None:
            await self.mirror.save_market(bars, [(key, value, at) for key, value, _, at in values])
        try:
            refused = await self.hot.push_batch(bars, [(key, value, ttl) for key, value, ttl, _ in values])
        except HotStoreUnavailableError as exc:
            if self.mirror is None:
                raise
            self._hot_down.warn("hot store unavailable, %d bars kept in the durable copy only: %s", len(bars), exc)
            return []
        self._hot_answered()
        return refused

    async def _flush_if_held(self, symbols: Sequence[str] = (), keys: Sequence[str] = ()) -> None:
        """Flush first if a read of `symbols`' bars or of `keys` would miss a held write."""
        held = self._held
        if held is None:
            return
        if any(key in held.values for key in keys) or (held.bars and not held.symbols().isdisjoint(symbols)):
            await self.flush()

    # ---- writes --------------------------------------------------------------------------------

    async def push_bar(self, symbol: str, bar: Bar) -> None:
        if self._held is not None:
            self._held.bars.append((symbol, bar))
            return
        if self.mirror is not None:
            await self.mirror.save_bar(symbol, bar)
        try:
            await self.hot.push_bar(symbol, bar)
        except HotStoreUnavailableError as exc:
            if self.mirror is None:
                raise
            self._hot_down.warn(
                "hot store unavailable, bar %s %s kept in the durable copy only: %s", symbol, bar.time, exc
            )
        else:
            self._hot_answered()

    async def set_value(self, key: str, value: JSON, ttl_s: float | None = None) -> None:
        if self._held is not None:
            self._held.values.pop(key, None)  # re-inserted last: the values are sent in the order last set
            self._held.values[key] = (value, ttl_s, self._clock.now())
            return
        if self.mirror is not None:
            await self.mirror.put_value(key, value, self._clock.now())
        try:
            await self.hot.set_value(key, value, ttl_s)
        except HotStoreUnavailableError as exc:
            if self.mirror is None:
                raise
            self._hot_down.warn("hot store unavailable, %s kept in the durable copy only: %s", key, exc)
        else:
            self._hot_answered()

    # ---- reads ---------------------------------------------------------------------------------

    async def bars(self, symbol: str) -> tuple[Bar, ...]:
        bars, _ = await self.bars_served(symbol)
        return bars

    async def get_value(self, key: str) -> JSON | None:
        value, _ = await self.value_served(key)
        return value

    async def snapshot(self, bars: Sequence[str], last_bars: Sequence[str], values: Sequence[str]) -> HotSnapshot:
        found, _ = await self.snapshot_served(bars, last_bars, values)
        return found

    async def snapshot_served(
        self,
        bars: Sequence[str],
        last_bars: Sequence[str],
        values: Sequence[str],
        durable_values: Callable[[], Awaitable[Mapping[str, Any]]] | None = None,
    ) -> tuple[HotSnapshot, dict[str, Served]]:
        """`snapshot`, each read falling back to the durable copy as `bars_served` and `value_served` do,
        and where each was served from, under "bars:<symbol>" (window or last bar) and the value's key.
        `durable_values`: the durable copies of `values`, when the caller reads them anyway (the session's
        book read brings them in the same round trip); called only if a value is missing here."""
        await self._flush_if_held([*bars, *last_bars], values)
        down = None
        try:
            hot = await self.hot.snapshot(bars, last_bars, values)
        except HotStoreUnavailableError as exc:
            if self.mirror is None:
                raise
            hot, down = HotSnapshot({}, {}, {}), f"hot store unavailable: {exc}"
        else:
            self._hot_answered()
        served: dict[str, Served] = {}
        windows: dict[str, tuple[Bar, ...]] = {}
        for symbol in bars:
            windows[symbol], served[f"bars:{symbol}"] = await self._bars_or_durable(
                symbol, hot.bars.get(symbol, ()), down or "missing in the hot store"
            )
        last: dict[str, Bar | None] = {}
        for symbol in last_bars:
            if symbol in windows:  # its window was read anyway: the last bar is there
                last[symbol] = windows[symbol][-1] if windows[symbol] else None
                continue
            latest = hot.last_bars.get(symbol)
            window, served[f"bars:{symbol}"] = await self._bars_or_durable(
                symbol, (latest,) if latest else (), down or "missing in the hot store"
            )
            last[symbol] = window[-1] if window else None
        found: dict[str, JSON | None] = {key: hot.values.get(key) for key in values}
        missing = [key for key in values if found[key] is None]
        durable: Mapping[str, Any] = {}
        if missing and self.mirror is not None:
            if durable_values is not None:
                durable = await durable_values()
            else:
                durable = {key: value for key, (value, _) in (await self.mirror.get_values(missing)).items()}
        for key in values:
            if found[key] is None and key in durable:
                found[key] = durable[key]
                served[key] = Served("durable", down or "missing or expired in the hot store")
            else:
                served[key] = HOT  # served hot, or absent everywhere: nothing fell back
        return HotSnapshot(windows, last, found), served

    async def _bars_or_durable(self, symbol: str, bars: tuple[Bar, ...], why: str) -> tuple[tuple[Bar, ...], Served]:
        if bars or self.mirror is None:
            return bars, HOT
        found, served = await self._durable_bars(symbol, why)
        return (found, served) if found else ((), HOT)  # absent everywhere: nothing fell back

    async def bars_served(self, symbol: str) -> tuple[tuple[Bar, ...], Served]:
        await self._flush_if_held([symbol])
        try:
            bars = await self.hot.bars(symbol)
        except HotStoreUnavailableError as exc:
            if self.mirror is None:
                raise
            return await self._durable_bars(symbol, f"hot store unavailable: {exc}")
        self._hot_answered()
        if bars or self.mirror is None:
            return bars, HOT
        found, served = await self._durable_bars(symbol, "missing in the hot store")
        return (found, served) if found else (bars, HOT)  # absent everywhere: nothing fell back

    async def value_served(self, key: str) -> tuple[Any, Served]:
        await self._flush_if_held(keys=[key])
        try:
            value = await self.hot.get_value(key)
        except HotStoreUnavailableError as exc:
            if self.mirror is None:
                raise
            return await self._durable_value(key, f"hot store unavailable: {exc}")
        self._hot_answered()
        if value is not None or self.mirror is None:
            return value, HOT
        found, served = await self._durable_value(key, "missing or expired in the hot store")
        return (found, served) if found is not None else (None, HOT)  # absent everywhere: nothing fell back

    async def _durable_bars(self, symbol: str, reason: str) -> tuple[tuple[Bar, ...], Served]:
        assert self.mirror is not None
        return tuple(await self.mirror.recent_bars(symbol, self.window)), Served("durable", reason)

    async def _durable_value(self, key: str, reason: str) -> tuple[Any, Served]:
        assert self.mirror is not None
        found = await self.mirror.get_value(key)
        return (found[0] if found is not None else None), Served("durable", reason)
