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
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
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

    def _hot_answered(self) -> None:
        self._hot_down.clear("hot store available again")

    # ---- writes --------------------------------------------------------------------------------

    async def push_bar(self, symbol: str, bar: Bar) -> None:
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
