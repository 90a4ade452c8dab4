"""Drills: a trading session on the simulated clock, a fault injected, and every tier's response printed.

Each drill opens a throwaway embedded pipeline, builds a book from the bundled data (two filled positions
of 20 % of equity each, two open orders), then runs second by second: the feed's heartbeat, a provider
call, the broker's price against the market's, the account marked to market, the monitor's tick (tiers
and alert escalation). The fault starts at `FAULT_AT_S`. Each transition is printed with its state name
as it happens, then what was cancelled, closed, alerted and escalated, and the state at the end. A drill
passes when the end state is the one the configured tiers promise.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path

from aegis.pipeline import Pipeline
from aegis.runtime.breaker_drill import run_breaker_drill
from aegis.settings import Settings
from graphs.deliberation.config import DeliberationConfig
from state.clock import SimulatedClock
from state.context_loader import VIX_KEY
from state.orders import OrderRequest, OrderStatus, OrderType, Side
from state.trading import TradingState
from tools.feeds.bars import symbol_bars
from tools.feeds.bundled import load_bundled_daily

FAULT_AT_S = 5
ENTRY_VALUE = 20_000.0  # each of the two positions: the concentration limit of the default 100,000 book
SYMBOLS = ("AAPL", "MSFT", "JPM")
DAY = 400  # a bundled trading day with 120 bars of history before it

Say = Callable[[str], None]


class Drill(StrEnum):
    PROVIDER_OUTAGE = "provider-outage"
    FEED_DISCONNECT = "feed-disconnect"
    PRICE_MISMATCH = "price-mismatch"
    LOSS_LIMIT = "loss-limit"
    KILL_SWITCH = "kill-switch"
    CIRCUIT_BREAKER = "circuit-breaker"  # the bots' breaker (`aegis.runtime.breaker_drill`)


@dataclass(frozen=True, slots=True)
class DrillResult:
    drill: Drill
    passed: bool
    account: TradingState
    expected: str


class _Session:
    def __init__(self, pipeline: Pipeline, say: Say) -> None:
        self.p = pipeline
        self.say = say
        clock = pipeline.services.clock
        assert isinstance(clock, SimulatedClock)
        self.clock = clock
        self.start = clock.now()
        self.seen_transitions = 0
        self.seen_alerts: dict[str, int] = {}

    def t(self) -> float:
        return (self.clock.now() - self.start).total_seconds()

    async def report(self) -> None:
        for transition in self.p.monitor.transitions[self.seen_transitions :]:
            self.say(f"t+{self.t():7.3f}s  {transition.source:<12} {transition.tier.upper():<18} {transition.action}")
        self.seen_transitions = len(self.p.monitor.transitions)
        for alert in reversed(await self.p.services.store.alerts(limit=1000)):
            step = self.seen_alerts.get(alert.alert_id)
            if step is None:
                self.say(f"t+{self.t():7.3f}s  alert {alert.level.upper():<9} {alert.kind}: {alert.message}")
            elif alert.escalation_step > step:
                self.say(
                    f"t+{self.t():7.3f}s  alert {alert.kind} unacknowledged: escalated to step {alert.escalation_step}"
                )
            self.seen_alerts[alert.alert_id] = alert.escalation_step


async def _book(pipeline: Pipeline) -> dict[str, float]:
    """Two filled positions and two open orders from the bundled bars; returns the market prices."""
    panel = load_bundled_daily(list(SYMBOLS))
    broker, hot = pipeline.paper_broker, pipeline.services.hot
    prices: dict[str, float] = {}
    for symbol in SYMBOLS:
        bars = symbol_bars(panel, symbol)
        for bar in bars[DAY - 120 : DAY]:
            await hot.push_bar(symbol, bar)
            await broker.on_bar(symbol, bar)
        prices[symbol] = bars[DAY - 1].close
    await hot.set_value(VIX_KEY, float(panel.vix[DAY - 1]))
    created = panel_time = symbol_bars(panel, "AAPL")[DAY - 2].time
    for symbol in SYMBOLS[:2]:  # each a full position: ENTRY_VALUE, 20 % of the starting equity
        quantity = int(ENTRY_VALUE / prices[symbol])
        await broker.submit(_buy(f"drill-entry-{symbol}", symbol, prices[symbol] * 1.05, created, quantity))
    for symbol in SYMBOLS:
        bar = symbol_bars(panel, symbol)[DAY]
        await broker.on_bar(symbol, bar)
        prices[symbol] = bar.close
        await hot.push_bar(symbol, bar)
    now = symbol_bars(panel, "AAPL")[DAY].time + timedelta(minutes=1)
    clock = pipeline.services.clock
    assert isinstance(clock, SimulatedClock) and panel_time < now
    clock.set(now)
    await broker.submit(_buy("drill-open-JPM", "JPM", prices["JPM"] * 0.99, now))
    await broker.submit(_buy("drill-open-MSFT", "MSFT", prices["MSFT"] * 0.99, now))
    return prices


def _buy(event_id: str, symbol: str, price: float, at: object, quantity: float = 10) -> OrderRequest:
    """A buy at a limit of `price` (an entry's limit is set above the market so that it fills)."""
    return OrderRequest.model_validate(
        {"event_id": event_id, "symbol": symbol, "side": Side.BUY, "quantity": quantity, "order_type": OrderType.LIMIT,
         "limit_price": round(price, 2), "created_at": at}
    )  # fmt: skip


async def run_drill(drill: Drill, say: Say = print, folder: Path | None = None) -> DrillResult:
    if drill is Drill.CIRCUIT_BREAKER:
        passed, stopped = await run_breaker_drill(say, folder)
        return DrillResult(drill, passed, TradingState.ACTIVE, f"only tech stopped (stopped: {', '.join(stopped)})")
    with tempfile.TemporaryDirectory(prefix="aegis-drill-") as tmp:
        data_dir = folder or Path(tmp)
        panel = load_bundled_daily(["AAPL"])
        clock = SimulatedClock(symbol_bars(panel, "AAPL")[DAY - 120].time)
        # Daily bars: the market data is as old as the last close, which the drill accepts as fresh.
        day = 86_400.0
        config = DeliberationConfig.model_validate(
            {"max_market_age_s": day, "risk_limits": {"max_reference_age_s": day}}
        )
        pipeline = await Pipeline.open(Settings(data_dir=data_dir, deliberation=config), clock=clock)
        try:
            prices = await _book(pipeline)
            session = _Session(pipeline, say)
            store = pipeline.services.store
            held, pending = len(pipeline.paper_broker.positions()), len(await store.open_orders())
            say(
                f"drill {drill}: {held} positions, {pending} open orders, fault at t+{FAULT_AT_S}s, tiers as configured"
            )
            expected = await _run(drill, pipeline, session, prices)
            await pipeline.alerting.drain()
            return await _summary(drill, pipeline, session, expected)
        finally:
            await pipeline.close()


async def _run(drill: Drill, p: Pipeline, s: _Session, prices: dict[str, float]) -> TradingState:
    monitor, seconds = p.monitor, {Drill.PROVIDER_OUTAGE: 1_230, Drill.FEED_DISCONNECT: 40}.get(drill, 20)
    equity0 = p.paper_broker.equity()
    for second in range(seconds + 1):
        if second:
            s.clock.advance(timedelta(seconds=1))
        faulty = second >= FAULT_AT_S
        if not (drill is Drill.FEED_DISCONNECT and faulty):
            await monitor.heartbeat()
        await monitor.provider_call(not (drill is Drill.PROVIDER_OUTAGE and faulty))
        drift = {Drill.PRICE_MISMATCH: 0.01 if second < 12 else 0.03}.get(drill, 0.0) if faulty else 0.0
        await monitor.price_check("JPM", broker_price=prices["JPM"] * (1 + drift), market_price=prices["JPM"])
        loss = min(0.006 * (second - FAULT_AT_S + 1), 0.06) if drill is Drill.LOSS_LIMIT and faulty else 0.0
        positions = p.paper_broker.positions()
        invested = max(1.0, sum(q.quantity * prices[q.symbol] for q in positions.values()))
        marks = {sym: prices[sym] * (1 - loss * equity0 / invested) for sym in positions}  # the account down `loss`
        equity = p.paper_broker.cash() + sum(pos.quantity * marks[sym] for sym, pos in positions.items())
        await monitor.account(equity=equity, day_start_equity=equity0, positions=positions, marks=marks)
        if drill is Drill.KILL_SWITCH and second == FAULT_AT_S:
            report = await p.halt(reason="drill: operator pressed the kill switch", actor="drill")
            s.say(f"t+{s.t():7.3f}s  kill switch: HALTED, {len(report.cancelled)} open orders cancelled")
        if drill is Drill.PRICE_MISMATCH and second == 8:
            decision = await p.submit(await _signal(p, "drill-signal-JPM", "JPM"))
            outcome = f"{decision.outcome} ({decision.reason[:100]})"
            s.say(f"t+{s.t():7.3f}s  a long JPM signal during the 1 % mismatch: {outcome}")
        await monitor.tick()
        await s.report()
    if drill is Drill.KILL_SWITCH:
        decision = await p.submit(await _signal(p, "drill-signal-after-halt", "MSFT"))
        s.say(f"t+{s.t():7.3f}s  a signal after the halt: {decision.outcome} ({decision.reason})")
    return {
        Drill.PROVIDER_OUTAGE: TradingState.REDUCING,
        Drill.FEED_DISCONNECT: TradingState.HALTED,
        Drill.PRICE_MISMATCH: TradingState.ACTIVE,
        Drill.LOSS_LIMIT: TradingState.HALTED,
        Drill.KILL_SWITCH: TradingState.HALTED,
    }[drill]


async def _signal(p: Pipeline, event_id: str, symbol: str) -> dict[str, object]:
    bar = (await p.services.hot.bars(symbol))[-1]
    return {
        "id": event_id, "type": "SIGNAL_GENERATED", "source": "drill", "symbols": [symbol],
        "event_time": p.services.clock.now().isoformat(),
        "payload": {"signal": "golden_cross", "direction": "long", "strength": 0.8, "bar": bar.model_dump(mode="json")},
    }  # fmt: skip


async def _summary(drill: Drill, p: Pipeline, s: _Session, expected: TradingState) -> DrillResult:
    store = p.services.store
    states = await p.trading.states()
    orders = await store.open_orders()
    audit = await store.audit_log(limit=1000)
    cancelled = [e for e in audit if e["action"] == "order_cancelled"]
    s.say(f"orders cancelled: {len(cancelled)} " + ", ".join(str(e["detail"]["order_id"]) for e in reversed(cancelled)))
    closing = [o for o in orders if o.request.side is Side.SELL and o.status is OrderStatus.PENDING]
    s.say(f"positions closing (market sells pending): {', '.join(o.request.symbol for o in closing) or 'none'}")
    alerts = await store.alerts(limit=1000)
    deliveries = await store.deliveries()
    channels = ", ".join(sorted({d.channel for d in deliveries})) or "none"
    delivered = sum(d.ok for d in deliveries)
    s.say(f"alerts: {len(alerts)} raised, {len(deliveries)} deliveries recorded ({delivered} delivered; {channels})")
    s.say(f"end: account {states.account.state.upper()} ({states.account.reason}, by {states.account.actor}"
          f"{', needs an authorised reset' if states.account.needs_reset else ''})")  # fmt: skip
    for own in states.symbols.values():
        s.say(f"     {own.scope} {own.state.upper()} ({own.reason})")
    passed = states.account.state is expected
    if drill is Drill.PRICE_MISMATCH:
        passed = passed and states.effective("JPM").state is TradingState.HALTED
    if drill is Drill.PROVIDER_OUTAGE:
        passed = (
            passed
            and not [o for o in orders if o.request.side is Side.BUY]
            and any(a.escalation_step == 3 for a in alerts)
        )
    verdict = "behaved as configured" if passed else "DID NOT behave as configured"
    s.say(f"drill {drill}: {verdict} (expected account {expected.upper()})")
    return DrillResult(drill, passed, states.account.state, str(expected))
