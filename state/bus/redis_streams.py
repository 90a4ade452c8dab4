"""The event bus on Redis Streams: one stream, one consumer group, a dead-letter stream, a hash of last errors.

Key layout (names configurable; defaults shown):
- `aegis:events` (stream): entries `{event: <JSON>}`; the group (default `aegis-workers`) is created on first
  use from id 0 with MKSTREAM, so entries published before any worker started are delivered too.
  With `delete_acked` (default) an entry is XDEL'd when acked or dead-lettered: the stream then holds only
  unacked work (right for one group; turn it off if other groups read the same stream).
- `aegis:events:dead` (stream): `{message_id, event, deliveries, reason[, error]}`, never trimmed here.
- `aegis:events:errors` (hash): message id -> last error recorded by `fail`, deleted on ack or dead letter.

What is atomic (one Lua script each): claiming idle entries (XAUTOCLAIM, delivery counts from XPENDING,
and moving over-delivered entries to the dead-letter stream); `fail` (recorded only while still pending);
`dead_letter` (only the caller that removes the entry from the pending list writes the dead letter).
`ack` is one MULTI (XACK, HDEL, XDEL). New entries come from XREADGROUP, which Redis hands to one consumer only.

It must never trim the main stream (that would lose pending work), never retry a command inside the client
(a publish is sent once), and never block longer than the socket timeout allows.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from state.bus.base import (
    BusClosedError,
    BusError,
    BusPolicy,
    BusUnavailableError,
    DeadLetterReason,
    Delivery,
    dead_letter_record,
    decode_event,
    encode_event,
)
from state.redis_hot import DEFAULT_URL, redis_client

DEFAULT_STREAM = "aegis:events"
DEFAULT_GROUP = "aegis-workers"

_T = TypeVar("_T")

# Shared by the scripts: KEYS = stream, dead stream, errors hash; ARGV[1] = group, ARGV[2] = "1" to XDEL.
_LUA_PRELUDE = """
local stream, dead, errors, group = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
local delete_acked = ARGV[2] == '1'
local function event_of(fields)
  local raw = {}
  for i = 1, #fields, 2 do
    if fields[i] == 'event' then return fields[i + 1] end
    raw[fields[i]] = fields[i + 1]
  end
  return cjson.encode({raw = raw})
end
local function bury(id, event, deliveries, reason, err)
  local args = {'message_id', id, 'event', event, 'deliveries', deliveries, 'reason', reason}
  if err then
    args[#args + 1] = 'error'
    args[#args + 1] = err
  end
  redis.call('XADD', dead, '*', unpack(args))
  redis.call('XACK', stream, group, id)
  redis.call('HDEL', errors, id)
  if delete_acked then redis.call('XDEL', stream, id) end
end
"""

# ARGV[3] consumer, ARGV[4] min idle ms, ARGV[5] how many to return, ARGV[6] max deliveries.
_CLAIM = (
    _LUA_PRELUDE
    + """
local consumer, min_idle = ARGV[3], tonumber(ARGV[4])
local wanted, max_deliveries = tonumber(ARGV[5]), tonumber(ARGV[6])
local out = {}
local cursor = '0-0'
for _ = 1, 100 do
  local reply = redis.call('XAUTOCLAIM', stream, group, consumer, min_idle, cursor, 'COUNT', wanted - #out)
  cursor = reply[1]
  for _, entry in ipairs(reply[2]) do
    local id, fields = entry[1], entry[2]
    local deliveries = redis.call('XPENDING', stream, group, id, id, 1)[1][4]
    if deliveries > max_deliveries then
      bury(id, event_of(fields), deliveries, 'max_deliveries', redis.call('HGET', errors, id))
    else
      out[#out + 1] = {id, fields, deliveries}
    end
  end
  for _, id in ipairs(reply[3] or {}) do redis.call('HDEL', errors, id) end
  if cursor == '0-0' or #out >= wanted then break end
end
return out
"""
)

# ARGV[3] message id, ARGV[4] error.
_FAIL = (
    _LUA_PRELUDE
    + """
if #redis.call('XPENDING', stream, group, ARGV[3], ARGV[3], 1) == 0 then return 0 end
redis.call('HSET', errors, ARGV[3], ARGV[4])
return 1
"""
)

# ARGV[3] message id, ARGV[4] error, ARGV[5] reason, ARGV[6] event JSON to record when the stored one will not do.
_DEAD_LETTER = (
    _LUA_PRELUDE
    + """
local id, reason = ARGV[3], ARGV[5]
local pending = redis.call('XPENDING', stream, group, id, id, 1)
if #pending == 0 then return 0 end
local event = ARGV[6]
local stored = redis.call('XRANGE', stream, id, id)
if reason ~= 'undecodable' and #stored > 0 then event = event_of(stored[1][2]) end
bury(id, event, pending[1][4], reason, ARGV[4])
return 1
"""
)


@asynccontextmanager
async def _redis_errors(what: str) -> AsyncIterator[None]:
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise BusUnavailableError(f"redis bus unavailable ({what}): {exc}") from exc
    except RedisError as exc:
        raise BusError(f"redis bus refused {what}: {exc}") from exc


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _stream_rows(rows: Any) -> list[tuple[str, dict[str, str]]]:
    """(id, fields) pairs from an XRANGE/XREADGROUP answer; a deleted entry has no fields."""
    pairs: list[tuple[str, dict[str, str]]] = []
    for message_id, raw_fields in rows or []:
        fields = {_text(k): _text(v) for k, v in (raw_fields or {}).items()}
        pairs.append((_text(message_id), fields))
    return pairs


class RedisStreamsBus:
    """`EventBus` on a Redis stream and consumer group; many processes may share it."""

    def __init__(
        self,
        client: Redis,
        *,
        stream: str = DEFAULT_STREAM,
        group: str = DEFAULT_GROUP,
        policy: BusPolicy | None = None,
        dead_stream: str | None = None,
        errors_key: str | None = None,
        delete_acked: bool = True,
        max_block_ms: int | None = None,
        owns_client: bool = False,
    ) -> None:
        if not stream or not group:
            raise ValueError("stream and group must be non-empty")
        self._client = client
        self._stream = stream
        self._group = group
        self._policy = policy or BusPolicy()
        self._dead = dead_stream or f"{stream}:dead"
        self._errors = errors_key or f"{stream}:errors"
        self._delete_acked = delete_acked
        self._max_block_ms = self._block_limit(client) if max_block_ms is None else max_block_ms
        self._owns_client = owns_client
        self._group_ready = False
        self._closed = False
        self._claim = client.register_script(_CLAIM)
        self._fail = client.register_script(_FAIL)
        self._bury = client.register_script(_DEAD_LETTER)

    @classmethod
    def from_url(
        cls,
        url: str = DEFAULT_URL,
        *,
        stream: str = DEFAULT_STREAM,
        group: str = DEFAULT_GROUP,
        policy: BusPolicy | None = None,
        socket_timeout_s: float = 5.0,
        connect_timeout_s: float = 1.0,
    ) -> RedisStreamsBus:
        """A bus with its own fail-fast client (closed by `close()`). Nothing connects until first use."""
        client = redis_client(url, socket_timeout_s=socket_timeout_s, connect_timeout_s=connect_timeout_s)
        return cls(client, stream=stream, group=group, policy=policy, owns_client=True)

    @property
    def keys(self) -> tuple[str, str, str]:
        """The stream, the dead-letter stream and the errors hash."""
        return self._stream, self._dead, self._errors

    async def publish(self, event: Mapping[str, Any]) -> str:
        self._check_open()
        text = encode_event(event)
        async with _redis_errors("publish"):
            message_id = await self._client.xadd(self._stream, {"event": text})
        return _text(message_id)

    async def receive(
        self, consumer: str, count: int = 16, block_ms: int = 1000, *, claim: bool = True
    ) -> list[Delivery]:
        self._check_open()
        if not consumer:
            raise ValueError("consumer must be a non-empty name")
        if count < 1:
            raise ValueError("count must be >= 1")
        entries: list[tuple[str, dict[str, str], int]] = []
        if claim:
            entries.extend(await self._with_group("receive", lambda: self._claim_idle(consumer, count)))
        if len(entries) < count:
            block = min(block_ms, self._max_block_ms) if not entries else 0
            fresh = await self._with_group("receive", lambda: self._read_new(consumer, count - len(entries), block))
            entries.extend(fresh)
        deliveries: list[Delivery] = []
        for message_id, fields, delivered in entries:
            event = decode_event(fields.get("event", ""))
            if event is None:
                await self._bury_undecodable(message_id, fields)
                continue
            deliveries.append(Delivery(message_id=message_id, event=event, deliveries=delivered))
        return deliveries

    async def ack(self, delivery: Delivery) -> None:
        self._check_open()
        async with _redis_errors("ack"):
            pipe = self._client.pipeline(transaction=True)
            pipe.xack(self._stream, self._group, delivery.message_id)
            pipe.hdel(self._errors, delivery.message_id)
            if self._delete_acked:
                pipe.xdel(self._stream, delivery.message_id)
            await pipe.execute()

    async def fail(self, delivery: Delivery, error: str) -> None:
        self._check_open()
        await self._with_group(
            "fail", lambda: self._fail(keys=self._keys(), args=[*self._args(), delivery.message_id, error])
        )

    async def dead_letter(self, delivery: Delivery, error: str) -> None:
        self._check_open()
        await self._dead_letter(delivery.message_id, error, DeadLetterReason.REJECTED, encode_event(delivery.event))

    async def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        self._check_open()
        if limit < 1:
            return []
        async with _redis_errors("dead_letters"):
            rows = await self._client.xrange(self._dead, "-", "+", count=limit)
        records: list[dict[str, Any]] = []
        for _, fields in _stream_rows(rows):
            text = fields.get("event", "")
            records.append(
                dead_letter_record(
                    fields.get("message_id", ""),
                    decode_event(text) or {"raw": text},
                    fields.get("error"),
                    int(fields.get("deliveries", "0")),
                    DeadLetterReason(fields.get("reason", DeadLetterReason.REJECTED.value)),
                )
            )
        return records

    async def pending_count(self) -> int:
        self._check_open()
        summary = await self._with_group("pending_count", lambda: self._client.xpending(self._stream, self._group))
        return int(summary["pending"])

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            await self._client.aclose()

    # ---- internals -------------------------------------------------------------------------------

    async def _claim_idle(self, consumer: str, count: int) -> list[tuple[str, dict[str, str], int]]:
        args = [*self._args(), consumer, self._policy.claim_idle_ms, count, self._policy.max_deliveries]
        reply = await self._claim(keys=self._keys(), args=args)
        claimed: list[tuple[str, dict[str, str], int]] = []
        for message_id, flat, delivered in reply:
            fields = {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat), 2)}
            claimed.append((_text(message_id), fields, int(delivered)))
        return claimed

    async def _read_new(self, consumer: str, count: int, block: int) -> list[tuple[str, dict[str, str], int]]:
        # BLOCK 0 means "forever" to Redis; here 0 (or less) means "do not wait".
        wait = block if block > 0 else None
        reply = await self._client.xreadgroup(self._group, consumer, {self._stream: ">"}, count=count, block=wait)
        # RESP2 answers [[stream, rows]], RESP3 {stream: rows}; only our stream was asked for.
        per_stream: Any = reply.values() if isinstance(reply, dict) else [rows for _, rows in reply or []]
        return [(message_id, fields, 1) for rows in per_stream for message_id, fields in _stream_rows(rows)]

    async def _bury_undecodable(self, message_id: str, fields: dict[str, str]) -> None:
        error = "the entry does not hold an 'event' field with a JSON object"
        await self._dead_letter(message_id, error, DeadLetterReason.UNDECODABLE, json.dumps({"raw": fields}))

    async def _dead_letter(self, message_id: str, error: str, reason: DeadLetterReason, event_json: str) -> None:
        args = [*self._args(), message_id, error, reason.value, event_json]
        await self._with_group("dead_letter", lambda: self._bury(keys=self._keys(), args=args))

    async def _with_group(self, what: str, command: Callable[[], Awaitable[_T]]) -> _T:
        """Run `command` once the group exists; re-create it once if Redis lost it (e.g. restarted empty)."""
        async with _redis_errors(what):
            if not self._group_ready:
                await self._create_group()
            try:
                return await command()
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                await self._create_group()
                return await command()

    async def _create_group(self) -> None:
        try:
            await self._client.xgroup_create(self._stream, self._group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def _keys(self) -> list[str]:
        return [self._stream, self._dead, self._errors]

    def _args(self) -> list[str | int]:
        return [self._group, "1" if self._delete_acked else "0"]

    def _check_open(self) -> None:
        if self._closed:
            raise BusClosedError("the redis bus is closed")

    @staticmethod
    def _block_limit(client: Redis) -> int:
        # XREADGROUP BLOCK must end before the socket read times out, or a quiet stream looks like an outage.
        timeout = client.connection_pool.connection_kwargs.get("socket_timeout")
        return 60_000 if timeout is None else max(0, int(float(timeout) * 800))
