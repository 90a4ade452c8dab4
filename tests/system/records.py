"""Readers of what a run left behind: decisions and orders in PostgreSQL, the bus in Redis."""

from __future__ import annotations

import json
from dataclasses import dataclass

import psycopg
import redis.asyncio as aioredis

from state.bus.redis_streams import RedisStreamsBus


@dataclass(frozen=True)
class Records:
    outcomes: dict[str, str]  # event id -> outcome, one row per decided event (the primary key)
    context_sources: dict[str, str | None]
    order_event_ids: list[str]  # one entry per order row

    def with_outcome(self, outcome: str) -> set[str]:
        return {event_id for event_id, found in self.outcomes.items() if found == outcome}


# The processes' health monitors record SYSTEM_HEALTH decisions of their own (a server going away and coming back
# is one); the tapes hold none, so the readers below count the tape's decisions only.
TAPE_DECISIONS = "FROM decisions WHERE event_type <> 'SYSTEM_HEALTH'"


async def decided(postgres_url: str) -> int:
    async with await psycopg.AsyncConnection.connect(postgres_url, connect_timeout=3) as db:
        row = await (await db.execute(f"SELECT count(*) {TAPE_DECISIONS}")).fetchone()
    return int(row[0]) if row else 0


async def records(postgres_url: str) -> Records:
    async with await psycopg.AsyncConnection.connect(postgres_url, connect_timeout=3) as db:
        rows = await (await db.execute(f"SELECT event_id, outcome, record {TAPE_DECISIONS}")).fetchall()
        orders = await (await db.execute("SELECT event_id FROM orders")).fetchall()
    return Records(
        outcomes={event_id: outcome for event_id, outcome, _ in rows},
        context_sources={event_id: json.loads(record).get("context_source") for event_id, _, record in rows},
        order_event_ids=[event_id for (event_id,) in orders],
    )


@dataclass(frozen=True)
class BusState:
    unacked: int  # entries still in the stream: acked and dead-lettered entries are deleted from it
    pending: int  # delivered, neither acked nor dead-lettered
    dead_ids: list[str]  # event ids in the dead-letter stream, oldest first


class BusProbe:
    """Reads one deployment's bus (stream `<prefix>:events`, group `<prefix>-workers`) from outside."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self._bus = RedisStreamsBus.from_url(redis_url, stream=f"{prefix}:events", group=f"{prefix}-workers")
        self._client = aioredis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)
        self._stream = f"{prefix}:events"
        self._group = f"{prefix}-workers"

    async def state(self) -> BusState:
        dead = await self._bus.dead_letters(limit=100_000)
        return BusState(
            unacked=int(await self._client.xlen(self._stream)),
            pending=await self._bus.pending_count(),
            dead_ids=[str(d["event"].get("id")) for d in dead],
        )

    async def pending_of(self, consumer: str) -> set[str]:
        """The ids of the entries delivered to `consumer` and not yet acked (what it holds in flight)."""
        rows = await self._client.xpending_range(
            self._stream, self._group, min="-", max="+", count=10_000, consumername=consumer
        )
        return {_text(row["message_id"]) for row in rows}  # type: ignore[arg-type]

    async def close(self) -> None:
        await self._bus.close()
        await self._client.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
