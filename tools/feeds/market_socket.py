"""The market websocket feed: subscribe to symbols, read bars, keep the connection honest, reconnect.

The protocol spoken is a plain JSON one, one object per text message (`MessageMapping` renames the fields for a
provider's format). After connecting, the client sends the subscription (default
`{"type": "subscribe", "symbols": [...]}`); the server then sends
`{"type": "bar", "symbol": "AAPL", "time": "2026-12-04T14:31:00+00:00", "open": 1, "high": 2, "low": 1,
"close": 2, "volume": 100, "seq": 7}` (`time` the bar's close, ISO 8601 or epoch seconds/ms; `seq` optional) and
may send `{"type": "heartbeat"}`. Other types (acknowledgements, status) are ignored.

What it guarantees:
- every bar becomes a MARKET_TICK whose id is `<source>-<symbol>-<bar time>`: a bar sent again after a
  reconnect is the same event (and a bar not after the symbol's last one is skipped here already);
- a message that is not JSON, not an object, a bar that does not validate or one from the future (past the
  feed clock's 5 s skew) is one `DeadLetter`, never a crash;
- a ping after `heartbeat_s` without a message; no pong within `pong_timeout_s`: the connection is dead; no data
  for `data_silence_s` (pings answered or not): the stream is stalled. Either way it reconnects. A pong, a
  provider heartbeat message and a bar are each a `Connection("heartbeat")` (or an event): the failure tiers'
  feed heartbeat; while it reconnects there is none, and the tiers' own clock takes over;
- reconnects with exponential backoff (`backoff_base_s` doubling up to `backoff_max_s`, part of each delay drawn
  at random) at most `max_reconnects` times in a row: the count starts again once a connection delivers data. Past
  it, `Connection("gave_up")` and the source ends;
- a bar whose time skips expected bars (`bar_interval_s`) or a sequence number that skips numbers is a `Gap`:
  the backfill hook is called with it and the bars it returns are yielded first (default: the gap is logged and
  kept in `gaps`).
The URL is logged without its query or credentials (a provider's key often rides there).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import websockets
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from state.clock import Clock
from state.events import CLOCK_SKEW, Bar
from tools.feeds.config import FeedsConfig
from tools.feeds.live import Connection, DeadLetter, FeedError, FeedEvent, Signal, Sleep, compact_time, event_id

log = logging.getLogger(__name__)
SYMBOLS_PLACEHOLDER = "$symbols"


class MessageMapping(BaseModel):
    """How a provider's messages name things (defaults: the generic format above). Load one from JSON with
    `MessageMapping.from_file`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type_field: str = "type"
    bar_type: str = "bar"
    heartbeat_types: tuple[str, ...] = ("heartbeat",)
    symbol: str = "symbol"
    time: str = "time"
    open: str = "open"
    high: str = "high"
    low: str = "low"
    close: str = "close"
    volume: str = "volume"
    seq: str | None = "seq"
    epoch_unit: Literal["s", "ms"] = Field("s", description="Unit of a numeric time")
    subscribe: dict[str, Any] = Field(
        default_factory=lambda: {"type": "subscribe", "symbols": SYMBOLS_PLACEHOLDER},
        description=f"The subscription message; {SYMBOLS_PLACEHOLDER!r} is replaced by the list of symbols",
    )

    @classmethod
    def from_file(cls, path: Path) -> MessageMapping:
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValidationError) as exc:
            first = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            raise FeedError(f"message mapping {path.name}: {first}") from None

    def subscription(self, symbols: Sequence[str]) -> dict[str, Any]:
        return {k: list(symbols) if v == SYMBOLS_PLACEHOLDER else v for k, v in self.subscribe.items()}


@dataclass(frozen=True)
class Gap:
    symbol: str  # "*" for a sequence gap of the whole stream
    kind: Literal["time", "sequence"]
    after: str  # the last bar time (or sequence number) received
    before: str  # the one that arrived
    missing: int


Backfill = Callable[[Gap], Awaitable[Sequence[Bar]]]


class _StreamEndedError(Exception):
    """The stream ended; the message says why (for the log)."""


@dataclass
class MarketSocketSource:
    url: str
    symbols: Sequence[str]
    config: FeedsConfig
    clock: Clock
    name: str = "websocket"
    mapping: MessageMapping = field(default_factory=MessageMapping)
    backfill: Backfill | None = None
    sleep: Sleep = asyncio.sleep
    random: Callable[[], float] = random.random
    monotonic: Callable[[], float] = time.monotonic
    market: bool = True  # its heartbeats are the failure tiers' feed heartbeats
    gaps: list[Gap] = field(default_factory=list)
    failures: int = 0  # reconnects in a row without data
    _last_bar: dict[str, datetime] = field(default_factory=dict)
    _last_seq: int | None = None

    @property
    def where(self) -> str:
        """The URL as it may be logged: scheme, host, port and path only."""
        parts = urlsplit(self.url)
        host = parts.hostname or "?"
        return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"

    def backoff_s(self, attempt: int) -> float:
        """The delay before reconnect `attempt` (1-based): base * 2^(attempt-1), capped, the jitter part drawn."""
        ceiling = min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** (attempt - 1))
        jitter = self.config.backoff_jitter
        return float(ceiling * (1 - jitter + jitter * self.random()))

    async def signals(self) -> AsyncIterator[Signal]:
        limit = self.config.max_reconnects
        while True:
            reason, connected = "connection failed", False
            try:
                async with websockets.connect(
                    self.url, ping_interval=None, open_timeout=self.config.pong_timeout_s, max_size=2**20
                ) as socket:
                    await socket.send(json.dumps(self.mapping.subscription(self.symbols)))
                    log.info("%s: connected to %s, subscribed to %s", self.name, self.where, ", ".join(self.symbols))
                    connected = True
                    yield Connection("connected", f"{self.where}: {', '.join(self.symbols)}")
                    async for signal in self._stream(socket):
                        yield signal
            except _StreamEndedError as closed:
                reason = str(closed)
            except ConnectionClosed as exc:
                reason = _closed_reason(exc)
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                reason = f"cannot connect: {type(exc).__name__}: {exc}".rstrip(": ")
            except InvalidURI:
                raise FeedError(f"{self.name}: not a websocket URL: {self.where}") from None
            log.warning("%s: %s%s", self.name, "connection lost: " if connected else "", reason)
            yield Connection("disconnected", reason)
            self.failures += 1
            if self.failures > limit:
                detail = f"gave up after {limit} reconnects without data (last: {reason})"
                log.error("%s: %s", self.name, detail)
                yield Connection("gave_up", detail, attempt=self.failures - 1)
                return
            delay = self.backoff_s(self.failures)
            log.warning("%s: reconnect %d/%d in %.2f s", self.name, self.failures, limit, delay)
            yield Connection("reconnecting", f"attempt {self.failures}/{limit} in {delay:.2f} s", self.failures)
            await self.sleep(delay)

    async def _stream(self, socket: ClientConnection) -> AsyncIterator[Signal]:
        last_data, pongs = self.monotonic(), 0
        while True:
            silent = self.monotonic() - last_data
            if silent >= self.config.data_silence_s:
                await socket.close(code=1001, reason="stalled")
                answered = f", {pongs} pings answered meanwhile" if pongs else ""
                limit = f"limit {self.config.data_silence_s:g} s{answered}"
                raise _StreamEndedError(f"stalled: no data for {silent:.1f} s ({limit})")
            wait = min(self.config.heartbeat_s, self.config.data_silence_s - silent)
            try:
                message = await asyncio.wait_for(socket.recv(), wait)
            except TimeoutError:
                latency = await self._ping(socket)
                pongs += 1
                yield Connection("heartbeat", f"pong in {latency * 1000:.0f} ms")
                continue
            signals = await self._read(message)
            data = any(not isinstance(signal, DeadLetter) for signal in signals)
            if data and self.failures:
                log.info("%s: data flowing again after %d reconnects", self.name, self.failures)
                self.failures = 0
            for signal in signals:
                yield signal
            if data:  # from when the consumer is done with it: its own time is no silence of the stream
                last_data, pongs = self.monotonic(), 0

    async def _ping(self, socket: ClientConnection) -> float:
        try:
            pong = await socket.ping()
            latency = await asyncio.wait_for(pong, self.config.pong_timeout_s)
        except TimeoutError:
            raise _StreamEndedError(f"no pong within {self.config.pong_timeout_s:g} s: connection dead") from None
        log.debug("%s: pong in %.3f s (no data for a while)", self.name, latency)
        return float(latency)

    async def _read(self, message: str | bytes) -> list[Signal]:
        if isinstance(message, bytes):
            return [DeadLetter(repr(message[:200]), "binary message; this feed speaks JSON text")]
        try:
            data: Any = json.loads(message)
        except json.JSONDecodeError as exc:
            return [DeadLetter(message[:500], f"not JSON: {exc.msg} at {exc.pos}")]
        if not isinstance(data, dict):
            return [DeadLetter(message[:500], "not a JSON object")]
        kind = data.get(self.mapping.type_field)
        if kind in self.mapping.heartbeat_types:
            return [Connection("heartbeat", "provider heartbeat")]
        if kind != self.mapping.bar_type:
            log.debug("%s: %r message ignored", self.name, kind)
            return []
        try:
            symbol, bar, seq = self._bar(data)
        except (ValueError, TypeError, KeyError, OverflowError, OSError) as exc:
            return [DeadLetter(message[:500], f"unreadable bar: {_one_line(exc)}")]
        now = self.clock.now()
        if bar.time > now + CLOCK_SKEW:  # it would hide every real bar after it ("not after the last one")
            return [
                DeadLetter(message[:500], f"bar time {bar.time.isoformat()} is in the future (now {now.isoformat()})")
            ]
        signals: list[Signal] = []
        signals.extend(await self._sequence_gap(seq))
        last = self._last_bar.get(symbol)
        if last is not None and bar.time <= last:
            log.debug("%s: %s bar of %s not after the last one; skipped", self.name, symbol, bar.time.isoformat())
            return signals
        signals.extend(await self._time_gap(symbol, last, bar))
        self._last_bar[symbol] = bar.time
        signals.append(self.tick(symbol, bar))
        return signals

    def _bar(self, data: dict[str, Any]) -> tuple[str, Bar, int | None]:
        m = self.mapping
        symbol = data[m.symbol]
        if not isinstance(symbol, str) or symbol not in self.symbols:
            raise ValueError(f"symbol {symbol!r} is not subscribed")
        stamp = data[m.time]
        if isinstance(stamp, bool):
            raise TypeError("time must be a string or a number")
        if isinstance(stamp, int | float):
            moment = datetime.fromtimestamp(stamp / (1000 if m.epoch_unit == "ms" else 1), UTC)
        elif isinstance(stamp, str):
            moment = datetime.fromisoformat(stamp)
            if moment.tzinfo is None:
                raise ValueError(f"time {stamp!r} has no time zone")
        else:
            raise TypeError("time must be a string or a number")
        fields = {name: data[getattr(m, name)] for name in ("open", "high", "low", "close", "volume")}
        bar = Bar.model_validate({"time": moment, **fields})
        seq = data.get(m.seq) if m.seq else None
        return symbol, bar, seq if isinstance(seq, int) and not isinstance(seq, bool) else None

    async def _sequence_gap(self, seq: int | None) -> list[Signal]:
        if seq is None:
            return []
        last, self._last_seq = self._last_seq, seq
        if last is None or seq <= last + 1:
            return []  # in order, a repeat, or the server started counting again
        return await self._gap(Gap("*", "sequence", str(last), str(seq), seq - last - 1))

    async def _time_gap(self, symbol: str, last: datetime | None, bar: Bar) -> list[Signal]:
        step = timedelta(seconds=self.config.bar_interval_s)
        if last is None or bar.time - last < step * 1.5:
            return []
        missing = round((bar.time - last) / step) - 1
        return await self._gap(Gap(symbol, "time", last.isoformat(), bar.time.isoformat(), missing))

    async def _gap(self, gap: Gap) -> list[Signal]:
        self.gaps.append(gap)
        what = "messages" if gap.kind == "sequence" else f"{gap.symbol} bars"
        if self.backfill is None:
            log.warning("%s: gap: %d %s missing between %s and %s (no backfill hook: recorded)",
                        self.name, gap.missing, what, gap.after, gap.before)  # fmt: skip
            return []
        try:
            bars = await self.backfill(gap)
        except Exception as exc:  # the user's hook: a failure is a recorded gap, not a dead feed
            log.warning("%s: gap: %d %s missing between %s and %s; backfill failed: %s",
                        self.name, gap.missing, what, gap.after, gap.before, _one_line(exc))  # fmt: skip
            return []
        log.info("%s: gap: %d %s missing between %s and %s; backfilled %d",
                 self.name, gap.missing, what, gap.after, gap.before, len(bars))  # fmt: skip
        signals: list[Signal] = []
        for bar in sorted(bars, key=lambda b: b.time):
            symbol = gap.symbol if gap.symbol != "*" else ""
            last = self._last_bar.get(symbol)
            if symbol and (last is None or bar.time > last):
                self._last_bar[symbol] = bar.time
                signals.append(self.tick(symbol, bar))
        return signals

    def tick(self, symbol: str, bar: Bar) -> FeedEvent:
        return FeedEvent({
            "id": event_id(self.name, symbol, compact_time(bar.time)),
            "type": "MARKET_TICK",
            "source": self.name,
            "symbols": [symbol],
            "event_time": bar.time.isoformat(),
            "received_time": self.clock.now().isoformat(),
            "payload": {"bar": bar.model_dump(mode="json")},
        })  # fmt: skip


def _closed_reason(exc: ConnectionClosed) -> str:
    frame = exc.rcvd
    if frame is None:
        return "dropped (no close frame from the server)"
    return f"closed by the server (code {frame.code}{f': {frame.reason}' if frame.reason else ''})"


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "bar"
        return f"{where}: {first['msg']}"
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
