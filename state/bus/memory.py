"""The in-process event bus: the embedded default, with the same semantics as the Redis Streams bus.

It owns, in memory: the entries not yet acked, the unread entries of each priority class (the group's read
cursors), the pending entries per consumer (owner, class, last delivery time, delivery count), the last
error per pending entry and the dead letters. Message ids come from one sequence, so they are unique across
classes.
Idle time is measured on the injected `now_ms` source (milliseconds, monotonic), so tests can move time;
only `block_ms` waits in real time. Events are stored as JSON text, so each delivery is a fresh copy and an
event that Redis could not carry is refused here too.

It must never lose an entry that was not acked or dead-lettered, and never hand a new entry to two consumers.
Everything is lost when the process ends: durability is the Redis bus's job.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from state.bus.base import (
    PRIORITY_ORDER,
    BusClosedError,
    BusPolicy,
    DeadLetterReason,
    Delivery,
    dead_letter_record,
    decode_event,
    encode_event,
    priority_of,
)
from state.clock import monotonic_ms
from state.events import Priority


@dataclass(slots=True)
class _Pending:
    priority: Priority
    consumer: str
    delivered_at_ms: float
    deliveries: int


class InMemoryBus:
    """`EventBus` in one process (one consumer group)."""

    def __init__(
        self,
        policy: BusPolicy | None = None,
        *,
        now_ms: Callable[[], float] = monotonic_ms,
        single_class: bool = False,
    ) -> None:
        self._policy = policy or BusPolicy()
        # `single_class`: every event in the normal class, served in publish order (for comparisons).
        self._single_class = single_class
        self._now_ms = now_ms
        self._entries: dict[str, str] = {}  # message id -> event JSON, until acked or dead-lettered
        # Published, never delivered, in publish order, per class.
        self._unread: dict[Priority, deque[str]] = {priority: deque() for priority in PRIORITY_ORDER}
        self._pending: dict[str, _Pending] = {}  # delivered, not acked; insertion (= id) order
        self._errors: dict[str, str] = {}
        self._dead: list[dict[str, Any]] = []
        self._sequence = 0
        self._arrival = asyncio.Event()
        self._closed = False

    async def publish(self, event: Mapping[str, Any]) -> str:
        self._check_open()
        text = encode_event(event)
        self._sequence += 1
        message_id = f"{self._sequence}-0"
        self._entries[message_id] = text
        self._unread[Priority.NORMAL if self._single_class else priority_of(event)].append(message_id)
        # Wake every receiver blocked on this generation, then start a new one.
        self._arrival.set()
        self._arrival = asyncio.Event()
        return message_id

    async def receive(
        self, consumer: str, count: int = 16, block_ms: int = 1000, *, claim: bool = True
    ) -> list[Delivery]:
        self._check_open()
        if not consumer:
            raise ValueError("consumer must be a non-empty name")
        if count < 1:
            raise ValueError("count must be >= 1")
        deliveries = self._read(consumer, count, claim)
        if not deliveries and block_ms > 0:
            arrival = self._arrival
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrival.wait(), timeout=block_ms / 1000)
            self._check_open()
            deliveries = self._read(consumer, count, claim=False)
        return deliveries

    async def ack(self, delivery: Delivery) -> None:
        self._check_open()
        if self._pending.pop(delivery.message_id, None) is not None:
            self._entries.pop(delivery.message_id, None)
            self._errors.pop(delivery.message_id, None)

    async def ack_many(self, deliveries: Sequence[Delivery]) -> None:
        self._check_open()
        for delivery in deliveries:
            await self.ack(delivery)

    async def fail(self, delivery: Delivery, error: str) -> None:
        self._check_open()
        if delivery.message_id in self._pending:
            self._errors[delivery.message_id] = error

    async def dead_letter(self, delivery: Delivery, error: str) -> None:
        self._check_open()
        if delivery.message_id in self._pending:
            self._bury(delivery.message_id, error, DeadLetterReason.REJECTED)

    async def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        self._check_open()
        return copy.deepcopy(self._dead[: max(0, limit)])  # a caller cannot edit the records

    async def pending_count(self) -> int:
        self._check_open()
        return len(self._pending)

    async def backlog_count(self) -> int:
        self._check_open()
        return sum(len(unread) for unread in self._unread.values())

    async def dead_letter_count(self) -> int:
        self._check_open()
        return len(self._dead)

    async def close(self) -> None:
        self._closed = True
        self._arrival.set()  # blocked receivers return (and raise BusClosedError)

    def _read(self, consumer: str, count: int, claim: bool) -> list[Delivery]:
        """Class by class, highest first: idle entries claimed (when asked), then new ones, up to `count`."""
        deliveries: list[Delivery] = []
        for priority in PRIORITY_ORDER:
            if claim:
                deliveries.extend(self._claim_idle(consumer, priority, count - len(deliveries)))
            deliveries.extend(self._read_new(consumer, priority, count - len(deliveries)))
            if len(deliveries) >= count:
                break
        return deliveries

    def _claim_idle(self, consumer: str, priority: Priority, count: int) -> list[Delivery]:
        now = self._now_ms()
        claimed: list[Delivery] = []
        for message_id, pending in list(self._pending.items()):
            if len(claimed) >= count:
                break
            if pending.priority is not priority or now - pending.delivered_at_ms < self._policy.claim_idle_ms:
                continue
            pending.deliveries += 1
            if pending.deliveries > self._policy.max_deliveries:
                self._bury(message_id, self._errors.get(message_id), DeadLetterReason.MAX_DELIVERIES)
                continue
            pending.consumer = consumer
            pending.delivered_at_ms = now
            claimed.append(self._delivery(message_id, pending.deliveries))
        return claimed

    def _read_new(self, consumer: str, priority: Priority, count: int) -> list[Delivery]:
        now = self._now_ms()
        unread = self._unread[priority]
        fresh: list[Delivery] = []
        while unread and len(fresh) < count:
            message_id = unread.popleft()
            self._pending[message_id] = _Pending(priority, consumer=consumer, delivered_at_ms=now, deliveries=1)
            fresh.append(self._delivery(message_id, 1))
        return fresh

    def _delivery(self, message_id: str, deliveries: int) -> Delivery:
        event: dict[str, Any] = json.loads(self._entries[message_id])  # publish stored a JSON object
        return Delivery(message_id=message_id, event=event, deliveries=deliveries)

    def _bury(self, message_id: str, error: str | None, reason: DeadLetterReason) -> None:
        pending = self._pending.pop(message_id)
        event = decode_event(self._entries.pop(message_id)) or {}
        self._errors.pop(message_id, None)
        self._dead.append(dead_letter_record(message_id, event, error, pending.deliveries, reason))

    def _check_open(self) -> None:
        if self._closed:
            raise BusClosedError("the in-process bus is closed")
