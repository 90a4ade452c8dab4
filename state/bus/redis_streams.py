"""The event bus on Redis Streams: a stream per priority class, one consumer group, a dead-letter stream, a hash
of last errors.

Key layout (names configurable; defaults shown):
- `aegis:events` (stream): the normal class, entries `{event: <JSON>}`; `aegis:events:critical`,
  `aegis:events:high` and `aegis:events:low`: the other classes (`state.bus.base` says how an event finds its
  class and in which order they are served). The group (default `aegis-workers`) is created on each from id 0
  with MKSTREAM, so entries published before any worker started are delivered too. With `delete_acked`
  (default) an entry is XDEL'd when acked or dead-lettered: the streams then hold only unacked work (right for
  one group; turn it off if other groups read the same streams).
- `aegis:events:dead` (stream): `{message_id, event, deliveries, reason[, error]}` of every class, never trimmed.
- `aegis:events:errors` (hash): message id -> last error recorded by `fail`, deleted on ack or dead letter.

Message ids: a normal entry's id is its stream id (`1700000000000-0`), as it was before there were classes,
so work pending on a deployment from then is still served; an entry of another class is `<class>:<stream id>`
(`critical:1700000000000-0`), unique across the streams.

What is atomic (one Lua script each): a read (class by class, highest first: XAUTOCLAIM of idle entries with
their delivery counts from XPENDING, over-delivered ones moved to the dead-letter stream, then XREADGROUP of
new ones, until `count` is reached); `fail` (recorded only while still pending); `dead_letter` (only the caller
that removes the entry from the pending list writes the dead letter). `ack` and `ack_many` are one MULTI
(XACK, HDEL, XDEL per entry). When a read finds nothing it also answers each stream's last id; the wait for new
work is then an XREAD BLOCK after those ids (a script cannot block), followed by one more read: nothing added
in between is missed, and Redis still hands each new entry to one consumer only (XREADGROUP).

It must never trim a stream (that would lose pending work), never retry a command inside the client
(a publish is sent once), and never block longer than the socket timeout allows.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from state.bus.base import (
    PRIORITY_ORDER,
    BusClosedError,
    BusError,
    BusPolicy,
    BusUnavailableError,
    DeadLetterReason,
    Delivery,
    dead_letter_record,
    decode_event,
    encode_event,
    priority_of,
)
from state.events import Priority
from state.redis_hot import DEFAULT_URL, redis_client

DEFAULT_STREAM = "aegis:events"
DEFAULT_GROUP = "aegis-workers"

_T = TypeVar("_T")
_Entry = tuple[str, dict[str, str], int]  # message id, fields, deliveries

# Shared by the scripts: KEYS[1] dead stream, KEYS[2] errors hash; ARGV[1] group, ARGV[2] "1" to XDEL.
_LUA_PRELUDE = """
local dead, errors, group = KEYS[1], KEYS[2], ARGV[1]
local delete_acked = ARGV[2] == '1'
local function event_of(fields)
  local raw = {}
  for i = 1, #fields, 2 do
    if fields[i] == 'event' then return fields[i + 1] end
    raw[fields[i]] = fields[i + 1]
  end
  return cjson.encode({raw = raw})
end
local function bury(stream, id, message_id, event, deliveries, reason, err)
  local args = {'message_id', message_id, 'event', event, 'deliveries', deliveries, 'reason', reason}
  if err then
    args[#args + 1] = 'error'
    args[#args + 1] = err
  end
  redis.call('XADD', dead, '*', unpack(args))
  redis.call('XACK', stream, group, id)
  redis.call('HDEL', errors, message_id)
  if delete_acked then redis.call('XDEL', stream, id) end
end
"""

# KEYS[3..] the class streams, highest first. ARGV[3] consumer, ARGV[4] min idle ms, ARGV[5] how many to
# return, ARGV[6] max deliveries, ARGV[7] "1" to claim idle entries, ARGV[8..] each stream's id prefix.
# Answers {1, {{message id, fields, deliveries}...}}, or {0, {last id of each stream}} when there is nothing.
_READ = (
    _LUA_PRELUDE
    + """
local consumer, min_idle = ARGV[3], tonumber(ARGV[4])
local wanted, max_deliveries, claim = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7] == '1'
local out = {}
for class = 1, #KEYS - 2 do
  local stream, prefix = KEYS[class + 2], ARGV[class + 7]
  local function message_id(id) if prefix == '' then return id end return prefix .. ':' .. id end
  local cursor = '0-0'
  for _ = 1, 100 do
    if not claim or #out >= wanted then break end
    local reply = redis.call('XAUTOCLAIM', stream, group, consumer, min_idle, cursor, 'COUNT', wanted - #out)
    cursor = reply[1]
    for _, entry in ipairs(reply[2]) do
      local id, fields = entry[1], entry[2]
      local deliveries = redis.call('XPENDING', stream, group, id, id, 1)[1][4]
      if deliveries > max_deliveries then
        local mid = message_id(id)
        bury(stream, id, mid, event_of(fields), deliveries, 'max_deliveries', redis.call('HGET', errors, mid))
      else
        out[#out + 1] = {message_id(id), fields, deliveries}
      end
    end
    for _, id in ipairs(reply[3] or {}) do redis.call('HDEL', errors, message_id(id)) end
    if cursor == '0-0' then break end
  end
  if #out < wanted then
    local reply = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', wanted - #out, 'STREAMS', stream, '>')
    if reply then
      for _, entry in ipairs(reply[1][2]) do out[#out + 1] = {message_id(entry[1]), entry[2], 1} end
    end
  end
  if #out >= wanted then break end
end
if #out > 0 then return {1, out} end
local last = {}
for class = 1, #KEYS - 2 do
  local info = redis.call('XINFO', 'STREAM', KEYS[class + 2])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then last[class] = info[i + 1] end
  end
end
return {0, last}
"""
)

# KEYS[3] the entry's stream. ARGV[3] stream id, ARGV[4] message id, ARGV[5] error.
_FAIL = (
    _LUA_PRELUDE
    + """
if #redis.call('XPENDING', KEYS[3], group, ARGV[3], ARGV[3], 1) == 0 then return 0 end
redis.call('HSET', errors, ARGV[4], ARGV[5])
return 1
"""
)

# KEYS[3] the entry's stream. ARGV[3] stream id, ARGV[4] message id, ARGV[5] error, ARGV[6] reason,
# ARGV[7] event JSON to record when the stored one will not do.
_DEAD_LETTER = (
    _LUA_PRELUDE
    + """
local stream, id, reason = KEYS[3], ARGV[3], ARGV[6]
local pending = redis.call('XPENDING', stream, group, id, id, 1)
if #pending == 0 then return 0 end
local event = ARGV[7]
local stored = redis.call('XRANGE', stream, id, id)
if reason ~= 'undecodable' and #stored > 0 then event = event_of(stored[1][2]) end
bury(stream, id, ARGV[4], event, pending[1][4], reason, ARGV[5])
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
    """`EventBus` on Redis streams (one per priority class) and a consumer group; many processes may share it."""

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
        single_class: bool = False,
    ) -> None:
        if not stream or not group:
            raise ValueError("stream and group must be non-empty")
        self._client = client
        self._group = group
        self._policy = policy or BusPolicy()
        # The normal class keeps the plain stream name and plain ids (see the module's docstring).
        # `single_class`: every event in the normal class, one stream read in publish order (the bus as it was
        # before classes; for comparisons).
        self._classes = (Priority.NORMAL,) if single_class else PRIORITY_ORDER
        self._prefixes = {p: "" if p is Priority.NORMAL else p.value for p in PRIORITY_ORDER}
        self._streams = {p: stream if p is Priority.NORMAL else f"{stream}:{p.value}" for p in PRIORITY_ORDER}
        self._by_prefix = {self._prefixes[p]: p for p in PRIORITY_ORDER}
        self._dead = dead_stream or f"{stream}:dead"
        self._errors = errors_key or f"{stream}:errors"
        self._delete_acked = delete_acked
        self._max_block_ms = self._block_limit(client) if max_block_ms is None else max_block_ms
        self._owns_client = owns_client
        self._group_ready = False
        self._closed = False
        self._read = client.register_script(_READ)
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
        single_class: bool = False,
    ) -> RedisStreamsBus:
        """A bus with its own fail-fast client (closed by `close()`). Nothing connects until first use."""
        client = redis_client(url, socket_timeout_s=socket_timeout_s, connect_timeout_s=connect_timeout_s)
        return cls(client, stream=stream, group=group, policy=policy, owns_client=True, single_class=single_class)

    @property
    def streams(self) -> tuple[str, ...]:
        """The class streams, in the order they are served (critical, high, normal, low)."""
        return tuple(self._streams[p] for p in self._classes)

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key the bus writes: the class streams, the dead-letter stream and the errors hash."""
        return (*self.streams, self._dead, self._errors)

    def stream_of(self, priority: Priority) -> str:
        return self._streams[priority]

    async def publish(self, event: Mapping[str, Any]) -> str:
        self._check_open()
        text = encode_event(event)
        priority = priority_of(event) if len(self._classes) > 1 else Priority.NORMAL
        async with _redis_errors("publish"):
            entry_id = await self._client.xadd(self._streams[priority], {"event": text})
        return self._message_id(priority, _text(entry_id))

    async def receive(
        self, consumer: str, count: int = 16, block_ms: int = 1000, *, claim: bool = True
    ) -> list[Delivery]:
        self._check_open()
        if not consumer:
            raise ValueError("consumer must be a non-empty name")
        if count < 1:
            raise ValueError("count must be >= 1")
        entries, last_ids = await self._with_group("receive", lambda: self._read_entries(consumer, count, claim))
        block = min(block_ms, self._max_block_ms)
        if not entries and block > 0:
            await self._with_group("receive", lambda: self._wait_for_new(last_ids, block))
            entries, _ = await self._with_group("receive", lambda: self._read_entries(consumer, count, False))
        deliveries: list[Delivery] = []
        for message_id, fields, delivered in entries:
            event = decode_event(fields.get("event", ""))
            if event is None:
                await self._bury_undecodable(message_id, fields)
                continue
            deliveries.append(Delivery(message_id=message_id, event=event, deliveries=delivered))
        return deliveries

    async def ack(self, delivery: Delivery) -> None:
        await self.ack_many([delivery])

    async def ack_many(self, deliveries: Sequence[Delivery]) -> None:
        self._check_open()
        if not deliveries:
            return
        async with _redis_errors("ack"):
            pipe = self._client.pipeline(transaction=True)
            for delivery in deliveries:
                stream, entry_id = self._locate(delivery.message_id)
                pipe.xack(stream, self._group, entry_id)
                pipe.hdel(self._errors, delivery.message_id)
                if self._delete_acked:
                    pipe.xdel(stream, entry_id)
            await pipe.execute()

    async def fail(self, delivery: Delivery, error: str) -> None:
        self._check_open()
        stream, entry_id = self._locate(delivery.message_id)
        args = [*self._args(), entry_id, delivery.message_id, error]
        await self._with_group("fail", lambda: self._fail(keys=[*self._keys(), stream], args=args))

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

        async def pending() -> int:
            pipe = self._client.pipeline(transaction=False)
            for stream in self.streams:
                pipe.xpending(stream, self._group)
            return sum(int(summary["pending"]) for summary in await pipe.execute())

        return await self._with_group("pending_count", pending)

    async def backlog_count(self) -> int:
        self._check_open()

        async def lag() -> int:
            pipe = self._client.pipeline(transaction=False)
            for stream in self.streams:
                pipe.xinfo_groups(stream)
            total = 0
            for groups in await pipe.execute():
                for group in groups:
                    if _text(group.get("name", "")) == self._group:
                        total += int(group.get("lag") or 0)  # nil when Redis cannot tell: counted as 0
            return total

        return await self._with_group("backlog_count", lag)

    async def dead_letter_count(self) -> int:
        self._check_open()
        async with _redis_errors("dead_letter_count"):
            return int(await self._client.xlen(self._dead))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            await self._client.aclose()

    # ---- internals -------------------------------------------------------------------------------

    def _message_id(self, priority: Priority, entry_id: str) -> str:
        prefix = self._prefixes[priority]
        return f"{prefix}:{entry_id}" if prefix else entry_id

    def _locate(self, message_id: str) -> tuple[str, str]:
        """The stream and stream id of a message id this bus handed out."""
        prefix, _, entry_id = message_id.rpartition(":")
        priority = self._by_prefix.get(prefix)
        if priority is None or not entry_id:
            raise ValueError(f"not a message id of this bus: {message_id!r}")
        return self._streams[priority], entry_id

    async def _read_entries(self, consumer: str, count: int, claim: bool) -> tuple[list[_Entry], list[str]]:
        args = [
            *self._args(), consumer, self._policy.claim_idle_ms, count, self._policy.max_deliveries,
            "1" if claim else "0", *(self._prefixes[p] for p in self._classes),
        ]  # fmt: skip
        found, rows = await self._read(keys=[*self._keys(), *self.streams], args=args)
        if not int(found):
            return [], [_text(last) for last in rows]
        entries: list[_Entry] = []
        for message_id, flat, delivered in rows:
            fields = {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat), 2)}
            entries.append((_text(message_id), fields, int(delivered)))
        return entries, []

    async def _wait_for_new(self, last_ids: list[str], block_ms: int) -> None:
        """Until an entry is added to any class stream after `last_ids`, or `block_ms` pass."""
        await self._client.xread(dict(zip(self.streams, last_ids, strict=True)), count=1, block=block_ms)

    async def _bury_undecodable(self, message_id: str, fields: dict[str, str]) -> None:
        error = "the entry does not hold an 'event' field with a JSON object"
        await self._dead_letter(message_id, error, DeadLetterReason.UNDECODABLE, json.dumps({"raw": fields}))

    async def _dead_letter(self, message_id: str, error: str, reason: DeadLetterReason, event_json: str) -> None:
        stream, entry_id = self._locate(message_id)
        args = [*self._args(), entry_id, message_id, error, reason.value, event_json]
        await self._with_group("dead_letter", lambda: self._bury(keys=[*self._keys(), stream], args=args))

    async def _with_group(self, what: str, command: Callable[[], Awaitable[_T]]) -> _T:
        """Run `command` once the group exists; re-create it once if Redis lost it (e.g. restarted empty)."""
        async with _redis_errors(what):
            if not self._group_ready:
                await self._create_group()
            try:
                return await command()
            except ResponseError as exc:
                if "NOGROUP" not in str(exc) and "no such key" not in str(exc):
                    raise
                await self._create_group()
                return await command()

    async def _create_group(self) -> None:
        for stream in self.streams:
            try:
                await self._client.xgroup_create(stream, self._group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._group_ready = True

    def _keys(self) -> list[str]:
        return [self._dead, self._errors]

    def _args(self) -> list[str | int]:
        return [self._group, "1" if self._delete_acked else "0"]

    def _check_open(self) -> None:
        if self._closed:
            raise BusClosedError("the redis bus is closed")

    @staticmethod
    def _block_limit(client: Redis) -> int:
        # XREAD BLOCK must end before the socket read times out, or a quiet stream looks like an outage.
        timeout = client.connection_pool.connection_kwargs.get("socket_timeout")
        return 60_000 if timeout is None else max(0, int(float(timeout) * 800))
