"""The hot context with its durable fallback: Redis first, PostgreSQL when Redis fails or lacks a key.

`TieredHot` implements the `HotStore` protocol, so the feed, the sessions and the persist step use it as
they would use Redis. With a mirror (the durable store), every write also goes to the durable copy
(`market_bars`, `hot_values`), and every read that the hot store cannot serve (it is down, or the key is
missing) is served from that copy instead, saying so. Without a mirror (the embedded default, where the hot
store lives in the process and cannot fail on its own) it is a thin pass-through.

A write that reaches the durable copy but not the hot store is not an error: the session will read the
durable copy. A write that reaches neither raises: nothing is silently lost.
"""

from __future__ import annotations

import logging
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


class TieredHot:
    def __init__(self, hot: HotStore, clock: Clock, mirror: DurableStore | None = None, window: int = 120) -> None:
        self.hot = hot
        self.mirror = mirror
        self.window = window
        self._clock = clock

    # ---- writes --------------------------------------------------------------------------------

    async def push_bar(self, symbol: str, bar: Bar) -> None:
        if self.mirror is not None:
            await self.mirror.save_bar(symbol, bar)
        try:
            await self.hot.push_bar(symbol, bar)
        except HotStoreUnavailableError as exc:
            if self.mirror is None:
                raise
            log.warning("hot store unavailable, bar %s %s kept in the durable copy only: %s", symbol, bar.time, exc)

    async def set_value(self, key: str, value: JSON, ttl_s: float | None = None) -> None:
        if self.mirror is not None:
            await self.mirror.put_value(key, value, self._clock.now())
        try:
            await self.hot.set_value(key, value, ttl_s)
        except HotStoreUnavailableError as exc:
            if self.mirror is None:
                raise
            log.warning("hot store unavailable, %s kept in the durable copy only: %s", key, exc)

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
