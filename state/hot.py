"""The hot context store: recent bars, the VIX, day-start equity and other fast-moving values.

The embedded default keeps them in process, with TTLs measured on the injected clock; Redis implements
the same protocol in production. Values are JSON-compatible; bars are kept as a bounded window per symbol.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from state.clock import Clock
from state.events import Bar

JSON = Any


class HotStoreError(Exception):
    """Base of every error raised by a hot store."""


class HotStoreUnavailableError(HotStoreError):
    """The hot store cannot be reached or did not answer in time; retrying later may help."""


@dataclass(frozen=True, slots=True)
class HotSnapshot:
    """Several reads answered at once: each asked symbol's bars (empty when it has none), each asked
    symbol's last bar (None when it has none), each asked value (None when missing or expired)."""

    bars: Mapping[str, tuple[Bar, ...]]
    last_bars: Mapping[str, Bar | None]
    values: Mapping[str, JSON | None]


class HotStore(Protocol):
    async def push_bar(self, symbol: str, bar: Bar) -> None: ...

    async def push_batch(
        self, bars: Sequence[tuple[str, Bar]], values: Sequence[tuple[str, JSON, float | None]] = ()
    ) -> list[tuple[str, Bar]]:
        """A feed's batch in one go (one round trip on a server): each bar pushed as `push_bar` would, in
        order, then each value set as `set_value` would (key, value, ttl_s). Returns the bars refused (not
        after their symbol's last one), in order, instead of raising: the others are kept."""
        ...

    async def bars(self, symbol: str) -> tuple[Bar, ...]: ...

    async def set_value(self, key: str, value: JSON, ttl_s: float | None = None) -> None: ...

    async def get_value(self, key: str) -> JSON | None: ...

    async def snapshot(self, bars: Sequence[str], last_bars: Sequence[str], values: Sequence[str]) -> HotSnapshot:
        """The windows of the `bars` symbols, the last bar of the `last_bars` symbols and the `values`, in one
        go (one round trip on a server): what a session reads at its start."""
        ...


class InMemoryHotStore:
    """Process-local hot store. `window` bars are kept per symbol (oldest dropped first)."""

    def __init__(self, clock: Clock, window: int = 120) -> None:
        if window < 1:
            raise ValueError("window must be >= 1")
        self._clock = clock
        self._window = window
        self._bars: dict[str, deque[Bar]] = {}
        self._values: dict[str, tuple[JSON, datetime | None]] = {}

    async def push_bar(self, symbol: str, bar: Bar) -> None:
        bars = self._bars.setdefault(symbol, deque(maxlen=self._window))
        if bars and bar.time <= bars[-1].time:
            raise ValueError(f"{symbol}: bar at {bar.time} is not after the last one at {bars[-1].time}")
        bars.append(bar)

    async def push_batch(
        self, bars: Sequence[tuple[str, Bar]], values: Sequence[tuple[str, JSON, float | None]] = ()
    ) -> list[tuple[str, Bar]]:
        refused = []
        for symbol, bar in bars:
            try:
                await self.push_bar(symbol, bar)
            except ValueError:
                refused.append((symbol, bar))
        for key, value, ttl_s in values:
            await self.set_value(key, value, ttl_s)
        return refused

    async def bars(self, symbol: str) -> tuple[Bar, ...]:
        return tuple(self._bars.get(symbol, ()))

    async def set_value(self, key: str, value: JSON, ttl_s: float | None = None) -> None:
        expires = self._clock.now() + timedelta(seconds=ttl_s) if ttl_s is not None else None
        self._values[key] = (value, expires)

    async def snapshot(self, bars: Sequence[str], last_bars: Sequence[str], values: Sequence[str]) -> HotSnapshot:
        windows = {symbol: tuple(self._bars.get(symbol, ())) for symbol in bars}
        last = {symbol: window[-1] if (window := self._bars.get(symbol)) else None for symbol in last_bars}
        return HotSnapshot(windows, last, {key: await self.get_value(key) for key in values})

    async def get_value(self, key: str) -> JSON | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires is not None and self._clock.now() >= expires:
            del self._values[key]
            return None
        return value
