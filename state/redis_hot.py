"""The hot context store on Redis: the production twin of `InMemoryHotStore`, same protocol, same answers.

It owns, under one key prefix (namespace, default "aegis:hot"):
- `{prefix}:bars:{symbol}`: a list, oldest first, of at most `window` entries "<time key>|<bar JSON>".
  A Lua script checks and appends in one step, so "refuse a bar not after the last one" holds with many writers.
- `{prefix}:value:{key}`: the value as JSON text, with a millisecond TTL (`SET ... PX`) when one is given.

Rules it keeps:
- TTLs run on the Redis server's clock, not the injected `Clock` (a replay on a `SimulatedClock` should use
  the in-memory store).
- Every call is bounded by socket timeouts and never retried inside the client: a lost connection or an
  unanswered command raises `HotStoreUnavailableError` at once, so callers can fall back (fail closed) instead
  of hanging. A write is therefore never sent twice.
It must never read or write a key outside its prefix, and never turn a Redis failure into "no value".

Reading a session's context is the hot path: `snapshot` answers all of a session's reads in one pipelined
round trip, and decoded bars are cached by their entry text (bars are immutable), so a 120-bar window costs
the validation of the bars that arrived since the last read, not of all 120.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from state.events import Bar
from state.hot import JSON, HotSnapshot, HotStoreError, HotStoreUnavailableError

DEFAULT_URL = "redis://127.0.0.1:6379/0"
DEFAULT_PREFIX = "aegis:hot"

# Bar times become fixed-width decimal strings so Lua can compare them as strings, exactly, for any
# aware datetime (Lua numbers are doubles: microseconds since 0001 would lose precision).
_ORIGIN = datetime(1, 1, 1, tzinfo=UTC)
_MARGIN_US = 2 * 86_400_000_000  # keeps instants just before _ORIGIN (year 1 at a positive offset) non-negative
_KEY_WIDTH = 19
_SEPARATOR = "|"
_BAR_LIST = TypeAdapter(list[Bar])  # a window is validated in one call, not one call per bar
DECODED_BARS_CACHED = 20_000  # entries kept decoded per store (a few MB): 120-bar windows of ~160 symbols

_PUSH_BAR = """
local last = redis.call('LINDEX', KEYS[1], -1)
if last and string.sub(last, 1, tonumber(ARGV[3])) >= ARGV[1] then
  return last
end
redis.call('RPUSH', KEYS[1], ARGV[1] .. ARGV[2])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[4]), -1)
return false
"""


def time_key(moment: datetime) -> str:
    """A string that sorts like the instant `moment` (aware), whatever its UTC offset."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("bar times must be timezone-aware")
    return str((moment - _ORIGIN) // timedelta(microseconds=1) + _MARGIN_US).zfill(_KEY_WIDTH)


def redis_client(url: str = DEFAULT_URL, *, socket_timeout_s: float = 2.0, connect_timeout_s: float = 1.0) -> Redis:
    """A client that fails fast: bounded connect and read times, no silent retries (a write is sent once)."""
    return Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=socket_timeout_s,
        socket_connect_timeout=connect_timeout_s,
        retry=Retry(NoBackoff(), 0),
    )


def _text(reply: bytes | str) -> str:
    # The client decodes replies (decode_responses=True); a client built elsewhere may not.
    return reply.decode() if isinstance(reply, bytes) else reply


@asynccontextmanager
async def _redis_errors(what: str) -> AsyncIterator[None]:
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise HotStoreUnavailableError(f"redis hot store unavailable ({what}): {exc}") from exc
    except RedisError as exc:
        raise HotStoreError(f"redis hot store refused {what}: {exc}") from exc


def _decode_entries(key: str, entries: list[str]) -> list[Bar]:
    """Bars of list entries "<time key>|<bar JSON>", validated together; `HotStoreError` if one is malformed."""
    texts = []
    for entry in entries:
        _, separator, text = entry.partition(_SEPARATOR)
        if not separator:
            raise HotStoreError(f"{key} holds a malformed bar entry: no separator")
        texts.append(text)
    try:
        bars = _BAR_LIST.validate_json("[" + ",".join(texts) + "]")
        if len(bars) != len(texts):  # an entry holding more (or less) than one bar
            raise ValueError(f"{len(texts)} entries decode to {len(bars)} bars")
    except (ValueError, ValidationError) as exc:
        raise HotStoreError(f"{key} holds a malformed bar entry: {exc}") from exc
    return bars


class RedisHotStore:
    """`HotStore` on Redis. `window` bars are kept per symbol (oldest dropped first), as in memory."""

    def __init__(
        self, client: Redis, *, window: int = 120, prefix: str = DEFAULT_PREFIX, owns_client: bool = False
    ) -> None:
        if window < 1:
            raise ValueError("window must be >= 1")
        if not prefix:
            raise ValueError("prefix must not be empty")
        self._client = client
        self._window = window
        self._prefix = prefix
        self._owns_client = owns_client
        self._closed = False
        self._push_bar = client.register_script(_PUSH_BAR)
        self._decoded: dict[str, Bar] = {}  # entry text -> its bar (see `_decode_window`)

    @classmethod
    def from_url(
        cls,
        url: str = DEFAULT_URL,
        *,
        window: int = 120,
        prefix: str = DEFAULT_PREFIX,
        socket_timeout_s: float = 2.0,
        connect_timeout_s: float = 1.0,
    ) -> RedisHotStore:
        """A store with its own fail-fast client (closed by `close()`). Nothing connects until first use."""
        client = redis_client(url, socket_timeout_s=socket_timeout_s, connect_timeout_s=connect_timeout_s)
        return cls(client, window=window, prefix=prefix, owns_client=True)

    @property
    def prefix(self) -> str:
        return self._prefix

    def bars_key(self, symbol: str) -> str:
        return f"{self._prefix}:bars:{symbol}"

    def value_key(self, key: str) -> str:
        return f"{self._prefix}:value:{key}"

    async def push_bar(self, symbol: str, bar: Bar) -> None:
        self._check_open()
        async with _redis_errors(f"push_bar {symbol}"):
            last = await self._push_bar(keys=[self.bars_key(symbol)], args=self._push_args(bar))
        if last is not None:
            last_time = self._decode_bar(symbol, _text(last)).time
            raise ValueError(f"{symbol}: bar at {bar.time} is not after the last one at {last_time}")

    async def push_batch(
        self, bars: Sequence[tuple[str, Bar]], values: Sequence[tuple[str, JSON, float | None]] = ()
    ) -> list[tuple[str, Bar]]:
        """One pipelined round trip (not a transaction: each push is atomic on its own, as apart)."""
        self._check_open()
        for _, _, ttl_s in values:
            if ttl_s is not None and not math.isfinite(ttl_s):
                raise ValueError(f"ttl_s must be finite, got {ttl_s}")
        if not bars and not values:
            return []
        async with _redis_errors(f"push_batch of {len(bars)} bars, {len(values)} values"):
            pipe = self._client.pipeline(transaction=False)
            for symbol, bar in bars:
                await self._push_bar(keys=[self.bars_key(symbol)], args=self._push_args(bar), client=pipe)
            for key, value, ttl_s in values:
                self._queue_value(pipe, key, json.dumps(value), ttl_s)
            replies = await pipe.execute()
        return [tick for tick, last in zip(bars, replies, strict=False) if last is not None]

    def _push_args(self, bar: Bar) -> list[str | int]:
        return [time_key(bar.time), _SEPARATOR + bar.model_dump_json(), _KEY_WIDTH, self._window]

    @staticmethod
    def _ttl_ms(ttl_s: float) -> int:
        return max(1, round(ttl_s * 1000))

    def _queue_value(self, pipe: Any, key: str, text: str, ttl_s: float | None) -> None:
        if ttl_s is None:
            pipe.set(self.value_key(key), text)
        elif ttl_s <= 0:  # already expired, as in memory: the key simply goes away
            pipe.delete(self.value_key(key))
        else:
            pipe.set(self.value_key(key), text, px=self._ttl_ms(ttl_s))

    async def bars(self, symbol: str) -> tuple[Bar, ...]:
        self._check_open()
        async with _redis_errors(f"bars {symbol}"):
            entries = await self._client.lrange(self.bars_key(symbol), 0, -1)
        return self._decode_window(symbol, entries)

    async def snapshot(self, bars: Sequence[str], last_bars: Sequence[str], values: Sequence[str]) -> HotSnapshot:
        """One pipelined round trip (not a transaction: each read is atomic on its own, as apart)."""
        self._check_open()
        async with _redis_errors("snapshot"):
            pipe = self._client.pipeline(transaction=False)
            for symbol in bars:
                pipe.lrange(self.bars_key(symbol), 0, -1)
            for symbol in last_bars:
                pipe.lindex(self.bars_key(symbol), -1)
            if values:
                pipe.mget([self.value_key(key) for key in values])
            replies = await pipe.execute()
        windows = {symbol: self._decode_window(symbol, reply) for symbol, reply in zip(bars, replies, strict=False)}
        lasts = replies[len(bars) : len(bars) + len(last_bars)]
        last = {s: None if r is None else self._decode_window(s, [r])[0] for s, r in zip(last_bars, lasts, strict=True)}
        texts = replies[-1] if values else []
        found = {key: self._decode_value(key, raw) for key, raw in zip(values, texts, strict=True)}
        return HotSnapshot(windows, last, found)

    async def set_value(self, key: str, value: JSON, ttl_s: float | None = None) -> None:
        self._check_open()
        if ttl_s is not None and not math.isfinite(ttl_s):
            raise ValueError(f"ttl_s must be finite, got {ttl_s}")
        text = json.dumps(value)
        async with _redis_errors(f"set_value {key}"):
            if ttl_s is None:
                await self._client.set(self.value_key(key), text)
            elif ttl_s <= 0:  # already expired, as in memory: the key simply goes away
                await self._client.delete(self.value_key(key))
            else:
                await self._client.set(self.value_key(key), text, px=self._ttl_ms(ttl_s))

    async def get_value(self, key: str) -> JSON | None:
        self._check_open()
        async with _redis_errors(f"get_value {key}"):
            raw = await self._client.get(self.value_key(key))
        return self._decode_value(key, raw)

    def _decode_value(self, key: str, raw: bytes | str | None) -> JSON | None:
        if raw is None:
            return None
        try:
            return json.loads(_text(raw))
        except ValueError as exc:
            raise HotStoreError(f"{self.value_key(key)} does not hold JSON: {exc}") from exc

    async def reconnect(self) -> None:
        """After an outage: drop every pooled connection, so the next command connects afresh (the client
        would find a dead one at its next use; the health monitor asks once the server answers again)."""
        self._check_open()
        await self._client.connection_pool.disconnect()

    async def close(self) -> None:
        """Stop using the store; the client is closed only if the store created it."""
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            await self._client.aclose()

    def _check_open(self) -> None:
        if self._closed:
            raise HotStoreUnavailableError("redis hot store is closed")

    def _decode_window(self, symbol: str, entries: list[bytes | str]) -> tuple[Bar, ...]:
        """The window's bars. Entries seen before come from the cache (bars are immutable, and an entry's
        text is its bar), the new ones are validated in one call; the cache is emptied when full."""
        texts = [_text(entry) for entry in entries]
        cache = self._decoded
        new = [text for text in texts if text not in cache]
        if len(cache) + len(new) > DECODED_BARS_CACHED:
            cache.clear()
            new = texts
        if new:
            cache.update(zip(new, _decode_entries(self.bars_key(symbol), new), strict=True))
        return tuple(cache[text] for text in texts)

    def _decode_bar(self, symbol: str, entry: str) -> Bar:
        _, separator, text = entry.partition(_SEPARATOR)
        try:
            if not separator:
                raise ValueError("no separator")
            return Bar.model_validate_json(text)
        except (ValueError, ValidationError) as exc:
            raise HotStoreError(f"{self.bars_key(symbol)} holds a malformed bar entry: {exc}") from exc
