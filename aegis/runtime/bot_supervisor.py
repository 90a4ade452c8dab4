"""The bots' supervisor on the feed's clock: day-start marks, the rebalancing schedule, the breaker's watch.

This module owns *when* the bots' operations happen; *what* they do is the flows' (`graphs/rebalance`,
`graphs/breaker`), reached by submitting their events like any other event (so they are recorded,
idempotent by id, and visible in Studio):

- each new day: bots whose stop ended are resumed (the breaker's `next_day` option); every bot's mark is
  recorded (`bot_days`: P&L to date, sleeve, allocation), the base of its day's P&L and its return
  history; on the first day of a week (or month, `rebalance.schedule`) a REBALANCING_DUE event is
  submitted;
- each bar of a symbol a bot holds, and each fill: the running bots' day P&L is checked against the
  breaker (`tools.ops.breaker.check_bots`); when it trips, a CIRCUIT_BREAKER event carries the decision.
  A trip on a bar that booked a fill of a bot it stops is caused by that fill (an exit before an entry, the
  last one): the event carries the fill's chain and the fill as its cause (`aegis trace`); a trip on marks
  alone has no single cause and starts its own chain. A scheduled REBALANCING_DUE starts its own chain.

Decisions that must not be silently changed:
- Event ids are derived from the day and the bots (`rebalance-2016-03-07`, `breaker-2016-03-07-growth`):
  a resumed run or a replay submits the same ids, and the records answer with the first decision.
- With no bots registered, nothing happens here (the implicit default bot has no sleeve to watch).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from quant.circuit_breaker import BreakerDecision
from state.bots import BotDay
from state.clock import Clock
from state.events import EventType
from state.orders import Fill, FillReason
from state.store.base import DurableStore
from tools.broker.paper import PaperBroker
from tools.ops.allocation import RebalanceConfig
from tools.ops.bots import BotControl
from tools.ops.breaker import BotLedger, BreakerConfig, check_bots, day_marks

log = logging.getLogger(__name__)

Submit = Callable[[Mapping[str, Any]], Awaitable[Any]]
SOURCE = "bot-supervisor"
PORTFOLIO_ID = "bots"
_MAX_ID = 128


class BotSupervisor:
    def __init__(
        self,
        bots: BotControl,
        store: DurableStore,
        broker: PaperBroker,
        *,
        rebalance: RebalanceConfig,
        breaker: BreakerConfig,
        submit: Submit,
        clock: Clock,
    ) -> None:
        self._clock = clock
        self._bots = bots
        self._store = store
        self._broker = broker
        self._rebalance = rebalance
        self._breaker = breaker
        self._submit = submit
        self._ledger: BotLedger | None = None
        self._day: date | None = None
        self._day_start: dict[str, BotDay] = {}

    async def ledger(self) -> BotLedger:
        """Each bot's cash flows, read from the stored fills once, then kept up to date from the feed."""
        if self._ledger is None:
            ledger = BotLedger()
            ledger.add(await self._store.fills())
            self._ledger = ledger
        return self._ledger

    async def day_started(self, moment: datetime, *, act: bool = True) -> None:
        """A new trading day: resume bots whose stop ended, mark every bot, and rebalance when due. Without
        `act` the day is only followed (a resumed run going over days whose events are recorded)."""
        previous, day = self._day, moment.date()
        self._day = day
        if not act:
            self._day_start = {}
            return
        bots = await self._bots.bots()
        if not bots:
            return
        if self._breaker.resume == "next_day" and await self._bots.resume_due(moment):
            bots = await self._bots.bots()
        ledger = await self.ledger()
        marks = day_marks(day, bots, ledger, self._broker.positions().values(), self._broker.marks(),
                          self._broker.equity())  # fmt: skip
        await self._store.record_bot_days(marks, moment)
        held = await self._store.bot_days(since=day)  # first write wins: a restarted day keeps its first marks
        self._day_start = {mark.bot_id: mark for mark in held if mark.day == day}
        if previous is not None and rebalance_due(self._rebalance.schedule, previous, day):
            await self._submit(_rebalancing_due(moment, self._rebalance.schedule))

    async def bar(self, symbol: str, fills: Iterable[Fill]) -> None:
        """A bar reached the broker: count its fills, and watch the breaker when a bot's book moved."""
        booked = list(fills)
        if self._ledger is not None:
            self._ledger.add(booked)  # a ledger read later reads these from the store (ids are deduplicated)
        if not self._day_start:
            return
        await self.ledger()
        if booked or symbol in self._broker.positions():
            await self.check(booked)

    async def check(self, fills: Sequence[Fill] = ()) -> BreakerDecision:
        """The breaker's verdict on the running bots now; a trip is submitted as a CIRCUIT_BREAKER event,
        caused by the latest of `fills` (just booked) of a bot it stops, if any."""
        bots = await self._bots.bots()
        positions, marks = self._broker.positions().values(), self._broker.marks()
        decision = check_bots(bots, self._day_start, await self.ledger(), positions, marks, self._breaker)
        if decision.tripped:
            event = _circuit_breaker(self._clock.now(), decision)
            cause = trip_cause(decision, fills)
            if cause is not None:
                event |= {"correlation_id": cause.chain_id, "causation_id": cause.fill_id}
            await self._submit(event)
        return decision


def trip_cause(decision: BreakerDecision, fills: Sequence[Fill]) -> Fill | None:
    """The fill that tripped the breaker: of the fills just booked for bots it stops, the last exit, else the
    last entry; None when none of them belongs to a stopped bot."""
    stopped = set(decision.stopped_ids)
    mine = [f for f in fills if f.bot_id in stopped]
    exits = [f for f in mine if f.reason is not FillReason.ENTRY]
    chosen = exits or mine
    return chosen[-1] if chosen else None


def rebalance_due(schedule: str, previous: date, day: date) -> bool:
    """Whether `day` starts a new period of `schedule` (weekly: an ISO week, monthly: a month) after `previous`."""
    if schedule == "weekly":
        return previous.isocalendar()[:2] != day.isocalendar()[:2]
    if schedule == "monthly":
        return (previous.year, previous.month) != (day.year, day.month)
    return False


def _event(event_id: str, kind: EventType, moment: datetime, payload: dict[str, Any]) -> dict[str, Any]:
    return {"id": event_id, "type": kind.value, "source": SOURCE, "event_time": moment.isoformat(), "payload": payload}


def _rebalancing_due(moment: datetime, schedule: str) -> dict[str, Any]:
    event_id = f"rebalance-{moment.date().isoformat()}"
    return _event(event_id, EventType.REBALANCING_DUE, moment, {"portfolio_id": PORTFOLIO_ID, "reason": schedule})


def _circuit_breaker(moment: datetime, decision: BreakerDecision) -> dict[str, Any]:
    ids = list(decision.stopped_ids)
    joined = "-".join(ids)
    suffix = joined if len(joined) <= _MAX_ID - 20 else hashlib.sha256(joined.encode()).hexdigest()[:16]
    losses = [stop.daily_loss_pct for stop in decision.stops if math.isfinite(stop.daily_loss_pct)]
    reason = "; ".join(f"{stop.bot_id}: {stop.reason}" for stop in decision.stops)
    payload = {"scope": decision.scope.value, "bot_ids": ids, "daily_loss_pct": max([0.0, *losses]), "reason": reason}
    return _event(f"breaker-{moment.date().isoformat()}-{suffix}", EventType.CIRCUIT_BREAKER, moment, payload)
