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
- A session starts as soon as one of `concurrency` slots is free (a slow model holds up no other event);
  events are received only for a free slot, `batch` at a time, and idle entries of dead workers are
  claimed only when this worker has nothing in hand, so it never claims back an entry of its own.
- A MARKET_TICK is not a session: the ticks of a receive are applied through the market feed
  (`Pipeline.market_feed`: broker fills and brackets, the hot store, the monitor), in the bus's order, and
  acknowledged together; an event after them in the same receive starts once they are applied, one before them
  (a higher class) first: the ticks wait for it to end, up to `tick_yield_s`. A receive that
  brought only ticks is followed by larger ones (`tick_batch`) while ticks keep coming. A tick whose bar is not
  after its symbol's last one is acknowledged if the hot store holds that very bar (a redelivery of an applied
  tick), else dead-lettered with the reason; one that fails for an infrastructure reason is left pending with
  its error, with the rest of its batch (applying them would put them out of order). Ticks need one order: with
  several workers on one bus, one feeder applies them (`aegis feed`) and only the other events are published.
- The bus serves the higher priority classes first (`state.bus.base`), so an operator's halt or an anomaly
  published behind a backlog of ticks is the next event a worker receives.
Many workers, in one process or many, on one machine or several, share one consumer group: the scale-out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aegis.pipeline import Pipeline, as_tick
from aegis.runtime.feed import MarketFeed
from state.bus.base import PRIORITY_ORDER, BusUnavailableError, Delivery, EventBus, priority_of
from state.decisions import Outcome
from state.events import MarketTickEvent

log = logging.getLogger(__name__)

# Ticks read at a time while only ticks come: a halt may wait for one such batch, besides its session. A tick
# costs 1-3 ms through the feed today (a round trip or three per bar) against well under 1 ms for a receive and
# an ack, so a few ticks amortise those; faster ticks would want a larger batch for the same wait.
TICK_BATCH = 8
TICK_YIELD_S = 0.5  # the longest ticks wait for a session of a higher class to end before being applied
FIRST_RETRY_S = 0.5  # pause before asking an unreachable bus again; doubles up to LONGEST_RETRY_S
LONGEST_RETRY_S = 5.0


@dataclass
class WorkerStats:
    decided: int = 0
    rejected: int = 0
    failed: int = 0
    ticks: int = 0  # applied through the market feed (no session)
    ticks_refused: int = 0  # dead-lettered: not after their symbol's last bar
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def handled(self) -> int:
        """Events this worker is done with, whatever became of them (its heartbeat reports it)."""
        return self.decided + self.rejected + self.failed + self.ticks + self.ticks_refused


class Worker:
    def __init__(
        self,
        pipeline: Pipeline,
        bus: EventBus,
        name: str,
        *,
        concurrency: int = 4,
        batch: int | None = None,
        block_ms: int = 1000,
        tick_batch: int = TICK_BATCH,
        tick_yield_s: float = TICK_YIELD_S,
    ) -> None:
        self._pipeline = pipeline
        self._bus = bus
        self.name = name
        self._concurrency = max(1, concurrency)
        self._batch = max(1, batch if batch is not None else self._concurrency)  # received at a time
        self._block_ms = block_ms
        self._tick_batch = max(1, tick_batch)
        self._tick_yield_s = max(0.0, tick_yield_s)
        self._feed: MarketFeed | None = None  # made on the first tick
        self._ranks: dict[asyncio.Task[None], int] = {}  # sessions in flight -> their class's rank (0: critical)
        self._stopping = asyncio.Event()
        self.stats = WorkerStats()

    @property
    def bus(self) -> EventBus:
        return self._bus

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        """Stop taking new events; what is in flight finishes (or stays pending for another worker)."""
        self._stopping.set()

    async def run(self, *, until_idle: bool = False) -> WorkerStats:
        """Work until `stop()`, or (with `until_idle`) until a receive comes back empty; then finish what was
        received. A session starts as soon as a slot is free: a slow session never holds up the others,
        and events are received only when a slot is free, at most `batch` at a time."""
        waiting: deque[Delivery] = deque()  # received, not started yet
        in_flight: set[asyncio.Task[None]] = set()
        retry_s = FIRST_RETRY_S
        count = self._batch  # how many to ask for: `tick_batch` after a receive of ticks only

        def start_waiting() -> None:
            while waiting and len(in_flight) < self._concurrency:
                delivery = waiting.popleft()
                task = asyncio.create_task(self.handle(delivery))
                in_flight.add(task)
                self._ranks[task] = PRIORITY_ORDER.index(priority_of(delivery.event))
                task.add_done_callback(self._ranks.pop)

        try:
            while not self._stopping.is_set():
                start_waiting()
                if len(in_flight) >= self._concurrency:
                    _, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                in_flight = {task for task in in_flight if not task.done()}
                try:
                    # Idle entries of dead workers are claimed only with nothing in hand: never our own.
                    claim = not in_flight
                    received = await self._bus.receive(self.name, count, self._block_ms, claim=claim)
                except BusUnavailableError as exc:  # an outage is not idleness: ask again, more slowly each time
                    log.warning("worker %s: bus unavailable, asking again in %.1f s: %s", self.name, retry_s, exc)
                    await self._pause(retry_s)
                    retry_s = min(2 * retry_s, LONGEST_RETRY_S)
                    continue
                retry_s = FIRST_RETRY_S
                if not received and until_idle:
                    if not claim:  # idle only once nothing is in hand and nothing can be claimed either
                        await asyncio.wait(in_flight)
                        continue
                    break
                count = self._batch
                if received and await self._take(received, waiting, start_waiting):
                    count = max(self._batch, self._tick_batch)
            # Stopping: what was received is finished too (at most one receive's worth), rather than left pending
            # until another worker's claim.
            while waiting:
                if len(in_flight) >= self._concurrency:
                    _, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                in_flight.add(asyncio.create_task(self.handle(waiting.popleft())))
        finally:  # also when cancelled: the sessions started are awaited, never abandoned mid-write
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)
        return self.stats

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _take(self, received: list[Delivery], waiting: deque[Delivery], start: Callable[[], None]) -> bool:
        """Queue the received events and apply the received ticks, in the bus's order: the sessions of the
        events before a run of ticks are started (as slots allow) before the ticks are applied, those of the
        events after it once they are. True if all were ticks."""
        ticks: list[tuple[Delivery, MarketTickEvent]] = []
        only_ticks = True
        for delivery in received:
            tick = as_tick(delivery.event)
            if tick is not None:
                ticks.append((delivery, tick))
                continue
            only_ticks = False
            if ticks:
                await self._start_then(start, ticks)
                ticks = []
            waiting.append(delivery)
        if ticks:
            await self._start_then(start, ticks)
        return only_ticks

    async def _start_then(self, start: Callable[[], None], ticks: list[tuple[Delivery, MarketTickEvent]]) -> None:
        """Start the waiting sessions, then apply the ticks; sessions of a higher class than the ticks (a halt,
        an anomaly) are given up to `tick_yield_s` to end first, so that they do not share the process with a
        batch of ticks (an operations flow takes milliseconds; a long session is not waited for to its end)."""
        start()
        rank = min(PRIORITY_ORDER.index(priority_of(delivery.event)) for delivery, _ in ticks)
        higher = [task for task, task_rank in self._ranks.items() if task_rank < rank]
        if higher and self._tick_yield_s > 0:
            await asyncio.wait(higher, timeout=self._tick_yield_s)
        else:
            await asyncio.sleep(0)  # the sessions just started begin before the ticks hold the loop
        await self.apply_ticks(ticks)

    async def apply_ticks(self, ticks: list[tuple[Delivery, MarketTickEvent]]) -> None:
        """Apply the ticks in order through the market feed, then acknowledge them together."""
        if self._feed is None:
            self._feed = self._pipeline.market_feed(reload_orders=True)  # other workers place orders too
        applied: list[Delivery] = []
        for n, (delivery, tick) in enumerate(ticks):
            symbol, bar = tick.symbol or "", tick.payload.bar
            try:
                try:
                    await self._feed.bar(symbol, bar)
                except ValueError as exc:  # the hot store refuses a bar not after its symbol's last one
                    if bar in await self._pipeline.services.hot.bars(symbol):
                        applied.append(delivery)  # a redelivery of a tick applied before: done already
                    else:
                        await self._refuse_tick(delivery, f"tick refused: {exc}")
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # infrastructure: this tick and the rest stay pending, in their order
                await self._leave_pending(ticks[n:], f"{type(exc).__name__}: {exc}")
                break
            self.stats.ticks += 1
            applied.append(delivery)
        if applied:
            what = f"acknowledge {len(applied)} tick(s) up to"
            await self._settle(applied[-1], what, self._bus.ack_many(applied))

    async def _refuse_tick(self, delivery: Delivery, reason: str) -> None:
        self.stats.ticks_refused += 1
        log.warning("worker %s: tick %s dead-lettered: %s", self.name, delivery.message_id, reason)
        await self._settle(delivery, "dead-letter", self._bus.dead_letter(delivery, reason))

    async def _leave_pending(self, ticks: list[tuple[Delivery, MarketTickEvent]], reason: str) -> None:
        log.warning("worker %s: %d tick(s) not applied, left pending: %s", self.name, len(ticks), reason)
        for delivery, _ in ticks:
            self.stats.failed += 1
            await self._settle(delivery, "record its failure", self._bus.fail(delivery, reason))

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
