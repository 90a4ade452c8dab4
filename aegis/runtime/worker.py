"""A worker: takes events off the bus and runs each through a session, acknowledging only what is decided.

- An event is acknowledged only after its decision is persisted (`Pipeline.submit` returns only then).
- An invalid event is recorded as rejected by the session and moved to the dead-letter stream on purpose.
- A session that fails for an infrastructure reason (the store is down, the session ran past its time
  limit, anything unexpected) is left pending with its error: after the bus's idle time any worker claims
  it again, and after `max_deliveries` it goes to the dead-letter stream with its last error.
- The bus going away (Redis restarting) does not end the worker: `receive` is tried again after a growing
  pause; an ack, dead letter or failure that cannot reach the bus leaves the entry pending, and its
  redelivery finds the decision already persisted (the session returns it) and acknowledges it then.
- `stop()` (SIGTERM) ends the intake; events in flight are finished, or handed back by not acknowledging.
Many workers, in one process or many, on one machine or several, share one consumer group: the scale-out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field

from aegis.pipeline import Pipeline
from state.bus.base import BusUnavailableError, Delivery, EventBus
from state.decisions import Outcome

log = logging.getLogger(__name__)

FIRST_RETRY_S = 0.5  # pause before asking an unreachable bus again; doubles up to LONGEST_RETRY_S
LONGEST_RETRY_S = 5.0


@dataclass
class WorkerStats:
    decided: int = 0
    rejected: int = 0
    failed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


class Worker:
    def __init__(
        self,
        pipeline: Pipeline,
        bus: EventBus,
        name: str,
        *,
        concurrency: int = 4,
        batch: int = 16,
        block_ms: int = 1000,
    ) -> None:
        self._pipeline = pipeline
        self._bus = bus
        self.name = name
        self._concurrency = max(1, concurrency)
        self._batch = max(1, batch)
        self._block_ms = block_ms
        self._stopping = asyncio.Event()
        self.stats = WorkerStats()

    def stop(self) -> None:
        """Stop taking new events; what is in flight finishes (or stays pending for another worker)."""
        self._stopping.set()

    async def run(self, *, until_idle: bool = False) -> WorkerStats:
        """Work until `stop()`, or (with `until_idle`) until a receive comes back empty."""
        limiter = asyncio.Semaphore(self._concurrency)
        retry_s = FIRST_RETRY_S
        while not self._stopping.is_set():
            try:
                deliveries = await self._bus.receive(self.name, count=self._batch, block_ms=self._block_ms)
            except BusUnavailableError as exc:  # an outage is not idleness: ask again, more slowly each time
                log.warning("worker %s: bus unavailable, asking again in %.1f s: %s", self.name, retry_s, exc)
                await self._pause(retry_s)
                retry_s = min(2 * retry_s, LONGEST_RETRY_S)
                continue
            retry_s = FIRST_RETRY_S
            if not deliveries:
                if until_idle:
                    break
                continue
            await asyncio.gather(*(self._guarded(limiter, delivery) for delivery in deliveries))
        return self.stats

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _guarded(self, limiter: asyncio.Semaphore, delivery: Delivery) -> None:
        async with limiter:
            await self.handle(delivery)

    async def handle(self, delivery: Delivery) -> None:
        try:
            decision = await self._pipeline.submit(delivery.event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # infrastructure failure of any kind: keep the event pending, say why
            self.stats.failed += 1
            reason = f"{type(exc).__name__}: {exc}"
            log.warning("worker %s: event %s not decided, left pending: %s", self.name, delivery.message_id, reason)
            await self._settle(delivery, "record its failure", self._bus.fail(delivery, reason))
            return
        self.stats.outcomes[str(decision.outcome)] = self.stats.outcomes.get(str(decision.outcome), 0) + 1
        if decision.outcome is Outcome.REJECTED:
            self.stats.rejected += 1
            await self._settle(delivery, "dead-letter", self._bus.dead_letter(delivery, decision.reason))
            return
        self.stats.decided += 1
        await self._settle(delivery, "acknowledge", self._bus.ack(delivery))

    async def _settle(self, delivery: Delivery, what: str, call: Awaitable[None]) -> None:
        """Tell the bus how the event ended; if the bus is unreachable the entry simply stays pending."""
        try:
            await call
        except BusUnavailableError as exc:
            log.warning("worker %s: could not %s %s, left pending: %s", self.name, what, delivery.message_id, exc)
