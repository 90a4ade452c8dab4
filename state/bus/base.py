"""The event bus contract: at-least-once delivery to a consumer group, idle claims, retries and dead letters.

Both buses (in-process and Redis Streams) keep the same promises, checked by one contract suite:
- `publish` stores the raw event (a JSON object) and returns its message id.
- `receive` hands each new entry to exactly one consumer of the group, in publish order, and also claims
  entries pending on any consumer (a dead one, or this one after a restart) once they have been idle for
  `claim_idle_ms`; each claim counts as one more delivery.
- An entry whose next delivery would exceed `max_deliveries` goes to the dead-letter stream with its last
  recorded error instead of being returned. Nothing leaves the bus without `ack` or a dead letter.
- `ack` only after the decision is persisted (the caller's duty); acking twice or after a dead letter is a no-op.
- `fail` records the error and leaves the entry pending: it comes back after `claim_idle_ms` (a natural backoff).

Priority classes. Each event goes to the class its envelope's `priority` names (critical, high, normal, low);
anything without a valid priority (not an event, a missing or unknown value) goes to normal, where it is
delivered and then recorded as rejected like any invalid event. `receive` serves the classes in strict order:
it fills its `count` from the highest class that has something to hand out (idle entries claimed first, then
new ones, within each class), then the next one down. Every promise above holds for every class; ordering holds
within a class, not across classes.

Strict priority, not a share for the lower classes, on purpose: the classes above normal carry the events that
protect capital (an operator's halt, an anomaly, a circuit breaker); letting any lower event pass first is the
very delay priorities exist to remove. They are rare by construction, so a lower class waits only while such
events keep coming, which is itself an emergency in which serving them first is right. A waiting class loses
nothing (its entries stay in the bus, counted) and its staleness fails closed: ticks that wait leave the market
context old, and a session refuses to act on an old context. A share (one lower read every N) would hold a
halt behind a session of the lower class exactly when it matters, and be per consumer, not per bus.

The bus transports and counts; it must never validate events (that is `parse_event`'s job, whose rejection the
caller records and then `dead_letter`s) nor drop one silently. Reading the priority field is not validating:
an event whose priority is valid and whose rest is not goes to its class and is rejected there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from state.events import Priority

# The classes, served in this order.
PRIORITY_ORDER: tuple[Priority, ...] = (Priority.CRITICAL, Priority.HIGH, Priority.NORMAL, Priority.LOW)


class BusError(Exception):
    """Base of every error raised by an event bus."""


class BusUnavailableError(BusError):
    """The bus cannot be reached or did not answer in time; retrying later may help."""


class BusClosedError(BusUnavailableError):
    """The bus was used after `close()`."""


class DeadLetterReason(StrEnum):
    MAX_DELIVERIES = "max_deliveries"  # delivered more than `max_deliveries` times without an ack
    REJECTED = "rejected"  # the caller dead-lettered it on purpose (invalid event)
    UNDECODABLE = "undecodable"  # the stored entry is not a JSON object (written by a foreign producer)


@dataclass(frozen=True, slots=True)
class Delivery:
    message_id: str
    event: dict[str, Any]  # the raw event as published (JSON object), a fresh copy per delivery
    deliveries: int  # how many times it has been delivered (1 on first delivery)


@dataclass(frozen=True, slots=True)
class BusPolicy:
    # An entry pending this long without an ack may be claimed by any consumer; longer than the 3-minute
    # session timeout, so a session still running is never taken over.
    claim_idle_ms: int = 200_000
    max_deliveries: int = 5  # the delivery after this many goes to the dead-letter stream instead

    def __post_init__(self) -> None:
        if self.claim_idle_ms < 0:
            raise ValueError("claim_idle_ms must be >= 0")
        if self.max_deliveries < 1:
            raise ValueError("max_deliveries must be >= 1")


class EventBus(Protocol):
    async def publish(self, event: Mapping[str, Any]) -> str:
        """Store the event; returns its message id. Raises TypeError/ValueError if it is not JSON."""
        ...

    async def receive(
        self, consumer: str, count: int = 16, block_ms: int = 1000, *, claim: bool = True
    ) -> list[Delivery]:
        """Up to `count` deliveries: idle pending entries claimed for `consumer` first, then new ones.

        Waits up to `block_ms` for new entries only when there is nothing to hand out; `block_ms <= 0`
        never waits. May return early with nothing. `claim=False` reads new entries only: a consumer
        with entries in hand asks so, lest it claim back its own entries that look idle.
        """
        ...

    async def ack(self, delivery: Delivery) -> None: ...

    async def ack_many(self, deliveries: Sequence[Delivery]) -> None:
        """`ack` of each, in one exchange with the bus (all or none reach it)."""
        ...

    async def fail(self, delivery: Delivery, error: str) -> None: ...

    async def dead_letter(self, delivery: Delivery, error: str) -> None: ...

    async def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """Oldest first: {message_id, event, error (None if none recorded), deliveries, reason}."""
        ...

    async def pending_count(self) -> int:
        """Entries delivered and neither acked nor dead-lettered (not counting entries never delivered)."""
        ...

    async def backlog_count(self) -> int:
        """Entries published and never delivered yet (the consumer group's lag), over every class."""
        ...

    async def dead_letter_count(self) -> int:
        """How many entries the dead-letter stream holds."""
        ...

    async def close(self) -> None: ...


def priority_of(event: Any) -> Priority:
    """The class an input is published to: its envelope's priority, or normal when it has no valid one."""
    value = event.get("priority") if isinstance(event, Mapping) else None
    try:
        return Priority(value) if isinstance(value, str) else Priority.NORMAL
    except ValueError:
        return Priority.NORMAL


def encode_event(event: Mapping[str, Any]) -> str:
    """The event as JSON text. Non-finite floats travel (as NaN/Infinity) so that validation can refuse them."""
    if not isinstance(event, Mapping):
        raise TypeError(f"an event must be a mapping, got {type(event).__name__}")
    return json.dumps(dict(event), separators=(",", ":"))


def decode_event(text: str) -> dict[str, Any] | None:
    """The event back from its JSON text, or None when the text is not a JSON object."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def dead_letter_record(
    message_id: str, event: dict[str, Any], error: str | None, deliveries: int, reason: DeadLetterReason
) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "event": event,
        "error": error,
        "deliveries": deliveries,
        "reason": reason.value,
    }
