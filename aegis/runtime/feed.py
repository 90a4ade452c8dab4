"""Applying market data to the running system: what a feed does between events.

A bar reaches the paper broker (which fills earlier orders at this bar's open and checks stops and
targets) and the hot store (the sessions' market snapshot). The VIX (with the time it was observed, which
sets its age) sets the posture's input (with a posture
watch, a VIX reading runs the posture evaluation when due and each step of time ends an override whose
time is up: `aegis.runtime.posture_watch`); with the risk-limit control, each step of time rebuilds the
sessions' copy of the limits when another process (the CLI) changed them. The first
bar of a new trading day records the day-start equity (the daily-loss limit's base). With a simulated
clock, time moves to each bar's close as it arrives.

With a risk monitor (`Pipeline.market_feed` passes the pipeline's), the feed also drives the failure
tiers: the broker's exits feed the stop-loss streak; before time moves on, the account marked at the
moment that ends feeds the loss tiers (loss per minute, the day's drawdown, positions down 2 %); each new
day the broker's book is checked against the stored one; and every step of time lets the monitor re-read
its time-driven tiers and escalate unacknowledged alerts. A tape has no connection, so it sends no feed
heartbeats: the feed-disconnect tier is armed by a live feed's own heartbeats (`RiskMonitor.heartbeat`).

With a bot supervisor, each new day marks the bots and may submit a REBALANCING_DUE event, and each bar of
a held symbol lets the breaker watch the bots' day (`aegis.runtime.bot_supervisor`). With an anomaly watch,
each bar and its fills go through the market and bot anomaly rules, and every step of time through the
rules on the bots' reported statuses (`aegis.runtime.anomaly_watch`). With daily operations, each day's
checks, cancellations and report follow the clock (`aegis.runtime.daily_ops`). With an approvals sweep, every
step of time expires the approvals whose time ran out (`aegis.runtime.approval_desk`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime

from aegis.runtime.anomaly_watch import AnomalyWatch
from aegis.runtime.bot_supervisor import BotSupervisor
from aegis.runtime.daily_ops import DailyOperations
from aegis.runtime.monitor import RiskMonitor
from aegis.runtime.posture_watch import PostureWatch
from aegis.runtime.recheck import Recheck
from state.clock import Clock, SimulatedClock
from state.context_loader import DAY_START_EQUITY_KEY, VIX_AS_OF_KEY, VIX_KEY
from state.events import Bar
from state.tiered_hot import TieredHot
from tools.broker.paper import PaperBroker
from tools.feeds.tape import VIX_SYMBOL
from tools.ops.limits import LimitControl


class MarketFeed:
    def __init__(
        self,
        hot: TieredHot,
        broker: PaperBroker,
        clock: Clock,
        *,
        reload_orders: bool = False,
        monitor: RiskMonitor | None = None,
        supervisor: BotSupervisor | None = None,
        watch: AnomalyWatch | None = None,
        operations: DailyOperations | None = None,
        posture: PostureWatch | None = None,
        approvals: Callable[[], Awaitable[object]] | None = None,
        limits: LimitControl | None = None,
    ) -> None:
        self._hot = hot
        self._broker = broker
        self._clock = clock
        self._reload_orders = reload_orders  # other processes (workers) place orders: reload them each day
        self._monitor = monitor
        self._supervisor = supervisor
        self._watch = watch
        self._operations = operations
        self._posture = posture  # the posture evaluation on this clock, an override's end
        self._approvals = approvals  # expires the approvals whose time ran out on this clock
        self._limits = limits  # the risk limits' hot copy, rebuilt when another process changed them
        self._limits_read = Recheck()
        self.supervising = (
            True  # False: the supervisor follows the days but acts on none (a resumed run's recorded days)
        )
        self._day: date | None = None
        self._moment: datetime | None = None
        self._day_start_equity = broker.equity()
        self.fills = 0

    async def advance(self, moment: datetime) -> None:
        """Move a simulated clock to `moment` (never back); a new day records the day-start equity."""
        if self._moment is not None and moment <= self._moment:
            return
        if self._monitor is not None and self._moment is not None:
            await self._monitor.account(
                equity=self._broker.equity(),
                day_start_equity=self._day_start_equity,
                positions=self._broker.positions(),
                marks=self._broker.marks(),
            )
        self._moment = moment
        if isinstance(self._clock, SimulatedClock) and moment > self._clock.now():
            self._clock.set(moment)
        if moment.date() != self._day:
            self._day = moment.date()
            if self._reload_orders:
                await self._broker.load()
            self._day_start_equity = self._broker.equity()
            await self._hot.set_value(DAY_START_EQUITY_KEY, self._day_start_equity)
            if self._monitor is not None:
                await self._monitor.check_integrity()
            if self._supervisor is not None:
                await self._supervisor.day_started(moment, act=self.supervising)
        if self._watch is not None:
            await self._watch.advance(moment, act=self.supervising)
        if self._operations is not None:
            await self._operations.advance(moment, act=self.supervising)
        if self._monitor is not None:
            await self._monitor.tick()
        if self._posture is not None:
            await self._posture.time_passed()
        if self._approvals is not None:
            await self._approvals()
        if self._limits is not None and self._limits_read.needed(moment, self._limits.revision):
            revision = self._limits.revision  # no limit changes by time alone: read again after a write or a moment
            await self._limits.sync()
            self._limits_read.read(None, revision)

    async def finish(self) -> None:
        """The feed ends: the daily operations close the day it was in (its report)."""
        if self._operations is not None and self._moment is not None:
            await self._operations.finish(self._moment)

    async def bar(self, symbol: str, bar: Bar) -> None:
        await self.advance(bar.time)
        if symbol == VIX_SYMBOL:
            await self.vix(bar.close, as_of=bar.time)
            return
        fills = await self._broker.on_bar(symbol, bar)
        self.fills += len(fills)
        if fills and self._operations is not None:
            self._operations.filled(fills)
        if fills and self._monitor is not None:
            await self._monitor.fills(fills)
        await self._hot.push_bar(symbol, bar)
        applied = self.supervising and self._broker.last_bar_time(symbol) == bar.time  # not a resumed run's old bar
        if self._watch is not None:
            await self._watch.bar(symbol, bar, fills, act=applied)
        if self._supervisor is not None and applied:
            await self._supervisor.bar(symbol, fills)

    async def vix(self, level: float | None, *, as_of: datetime | None = None) -> None:
        """The VIX for this step of time, observed at `as_of` (its close; earlier than now when carried
        forward): its age is what makes it stale (`state.staleness`)."""
        await self._hot.set_value(VIX_KEY, level)
        if as_of is not None:
            await self._hot.set_value(VIX_AS_OF_KEY, as_of.isoformat())
        if self._monitor is not None:
            await self._monitor.check_inputs()
        if self._posture is not None:
            await self._posture.vix_seen()
