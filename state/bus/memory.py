"""The in-process event bus: the embedded default, with the same semantics as the Redis Streams bus.

It owns, in memory: the entries not yet acked, the group's read cursor, the pending entries per consumer
(owner, last delivery time, delivery count), the last error per pending entry and the dead letters.
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from state.bus.base import (
    BusClosedError,
    BusPolicy,
    DeadLetterReason,
    Delivery,
    dead_letter_record,
    decode_event,
    encode_event,
)
from state.clock import monotonic_ms


@dataclass(slots=True)
class _Pending:
    consumer: str
    delivered_at_ms: float
    deliveries: int


class InMemoryBus:
    """`EventBus` in one process (one consumer group)."""

    def __init__(self, policy: BusPolicy | None = None, *, now_ms: Callable[[], float] = monotonic_ms) -> None:
        self._policy = policy or BusPolicy()
        self._now_ms = now_ms
        self._entries: dict[str, str] = {}  # message id -> event JSON, until acked or dead-lettered
        self._unread: deque[str] = deque()  # published, never delivered, in publish order
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
        self._unread.append(message_id)
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
        deliveries = self._claim_idle(consumer, count) if claim else []
        if not deliveries and not self._unread and block_ms > 0:
            arrival = self._arrival
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrival.wait(), timeout=block_ms / 1000)
            self._check_open()
        deliveries.extend(self._read_new(consumer, count - len(deliveries)))
        return deliveries

    async def ack(self, delivery: Delivery) -> None:
        self._check_open()
        if self._pending.pop(delivery.message_id, None) is not None:
            self._entries.pop(delivery.message_id, None)
            self._errors.pop(delivery.message_id, None)

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

    async def close(self) -> None:
        self._closed = True
        self._arrival.set()  # blocked receivers return (and raise BusClosedError)

    def _claim_idle(self, consumer: str, count: int) -> list[Delivery]:
        now = self._now_ms()
        claimed: list[Delivery] = []
        for message_id, pending in list(self._pending.items()):
            if len(claimed) >= count:
                break
            if now - pending.delivered_at_ms < self._policy.claim_idle_ms:
                continue
            pending.deliveries += 1
            if pending.deliveries > self._policy.max_deliveries:
                self._bury(message_id, self._errors.get(message_id), DeadLetterReason.MAX_DELIVERIES)
                continue
            pending.consumer = consumer
            pending.delivered_at_ms = now
            claimed.append(self._delivery(message_id, pending.deliveries))
        return claimed

    def _read_new(self, consumer: str, count: int) -> list[Delivery]:
        now = self._now_ms()
        fresh: list[Delivery] = []
        while self._unread and len(fresh) < count:
            message_id = self._unread.popleft()
            self._pending[message_id] = _Pending(consumer=consumer, delivered_at_ms=now, deliveries=1)
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
