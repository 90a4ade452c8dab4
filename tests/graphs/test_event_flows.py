"""The flows of ORDER_FILLED, SYSTEM_HEALTH and ECONOMIC_RELEASE end to end, on the embedded stores and on
PostgreSQL + Redis, and the router's one table: every event type has its flow, every flow is in Studio."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from aegis.pipeline import Pipeline
from aegis.settings import Settings
from graphs.router import DELIBERATION, FLOW_BUILDERS, ROUTES
from state.alerts import AlertLevel
from state.bots import Bot
from state.clock import SimulatedClock
from state.context_loader import STOP_LOSS_STREAK_COUNTER, VIX_KEY
from state.decisions import Outcome
from state.events import EventType
from state.orders import OrderRequest, OrderStatus, OrderType, Side
from state.trading import TradingState
from tests.conftest import SESSION_DAY, SYMBOL, bundled_bars
from tools.ops.releases import ReleaseConfig, ReleaseResponse

BARS = bundled_bars()
AT = BARS[SESSION_DAY].time
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["embedded", "services"])
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The settings of the stores: embedded, or a fresh PostgreSQL database and a Redis namespace."""
    if request.param == "embedded":
        return {}
    redis_url, prefix = request.getfixturevalue("redis_namespace")
    return {"postgres_url": request.getfixturevalue("postgres_url"), "redis_url": redis_url, "redis_prefix": prefix}


@pytest.fixture
async def pipeline(backend: dict[str, Any], tmp_path: Path) -> AsyncIterator[Pipeline]:
    """A pipeline on `backend`, with the AAPL context of the session day, and economic releases of CPI
    deliberating AAPL and MSFT."""
    releases = ReleaseConfig(responses={"CPI": ReleaseResponse(deliberate=("AAPL", "MSFT"))}, min_surprise_pct=1.0)
    settings = Settings(data_dir=tmp_path / "data", releases=releases, **backend)
    opened = await Pipeline.open(settings, clock=SimulatedClock(AT))
    for bar in BARS[SESSION_DAY - 119 : SESSION_DAY + 1]:
        await opened.services.hot.push_bar(SYMBOL, bar)
    await opened.services.hot.set_value(VIX_KEY, 14.0)
    try:
        yield opened
    finally:
        await opened.close()


def _event(event_id: str, kind: EventType, payload: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": event_id, "type": kind.value, "source": "test", "event_time": AT.isoformat(), "payload": payload,
            **extra}  # fmt: skip


def _filled(event_id: str, order_id: str, side: str, quantity: float, price: float, **payload: Any) -> dict[str, Any]:
    body = {"order_id": order_id, "side": side, "quantity": quantity, "price": price, **payload}
    return _event(event_id, EventType.ORDER_FILLED, body, symbols=[SYMBOL])


async def _order(pipeline: Pipeline, event_id: str, quantity: float, stop: float | None = None) -> str:
    request = OrderRequest(event_id=event_id, symbol=SYMBOL, side=Side.BUY, quantity=quantity,
                           order_type=OrderType.MARKET, stop_loss_price=stop,
                           created_at=AT - timedelta(minutes=1))  # fmt: skip
    return (await pipeline.paper_broker.submit(request)).order_id


# ---- ORDER_FILLED -----------------------------------------------------------------------------------------


async def test_a_reported_fill_is_booked_once_and_its_stop_loss_exit_feeds_the_streak(pipeline: Pipeline) -> None:
    order_id = await _order(pipeline, "ext-1", 10, stop=90.0)
    cash = pipeline.paper_broker.cash()
    booked = await pipeline.submit(_filled("venue-fill-1", order_id, "buy", 10, 101.5, fee=1.25))
    assert booked.outcome is Outcome.APPLIED and booked.operation is not None and booked.operation["booked"]
    position = pipeline.paper_broker.positions()[SYMBOL]
    assert (position.quantity, position.avg_price, position.stop_loss_price) == (10, 101.5, 90.0)
    assert pipeline.paper_broker.cash() == pytest.approx(cash - 10 * 101.5 - 1.25)
    assert not pipeline.paper_broker.open_orders()

    again = await pipeline.submit(_filled("venue-fill-1-resent", order_id, "buy", 10, 101.5, fee=1.25))
    assert again.outcome is Outcome.SKIPPED and "already holds" in again.reason
    assert pipeline.paper_broker.cash() == pytest.approx(cash - 10 * 101.5 - 1.25)

    stopped = await pipeline.submit(_filled("venue-stop-1", order_id, "sell", 10, 89.9, reason="stop_loss"))
    assert stopped.outcome is Outcome.APPLIED and SYMBOL not in pipeline.paper_broker.positions()
    assert await pipeline.services.store.get_counter(STOP_LOSS_STREAK_COUNTER) == 1
    fills = [f for f in await pipeline.services.store.fills() if f.order_id == order_id]
    assert [(f.reason.value, f.price, f.fee) for f in fills] == [("entry", 101.5, 1.25), ("stop_loss", 89.9, 0.0)]


@pytest.mark.parametrize(
    ("case", "report"),
    [
        ("unknown order", {"order_id": "ord-never-placed", "quantity": 10.0, "price": 100.0}),
        ("partial fill", {"quantity": 4.0, "price": 100.0}),
        ("other side", {"side": "sell", "quantity": 10.0, "price": 100.0}),
    ],
)
async def test_a_fill_that_does_not_match_the_book_is_not_booked_and_stops_new_entries(
    pipeline: Pipeline, case: str, report: dict[str, Any]
) -> None:
    order_id = await _order(pipeline, "ext-2", 10)
    cash = pipeline.paper_broker.cash()
    body = {"order_id": order_id, "side": "buy", **report}
    decision = await pipeline.submit(_event(f"bad-{case.replace(' ', '-')}", EventType.ORDER_FILLED, body,
                                            symbols=[SYMBOL]))  # fmt: skip
    assert decision.outcome is Outcome.SKIPPED and "does not match the book" in decision.reason, case
    assert pipeline.paper_broker.cash() == cash and not pipeline.paper_broker.positions()
    assert [o.order_id for o in pipeline.paper_broker.open_orders()] == [order_id]  # the order stays open
    assert (await pipeline.trading.states()).effective(SYMBOL).state is TradingState.REDUCING
    alerts = await pipeline.services.store.alerts()
    assert any(a.level is AlertLevel.CRITICAL and a.kind == "fill_mismatch" for a in alerts)


async def test_a_fill_at_another_price_than_the_booked_one_is_a_mismatch(pipeline: Pipeline) -> None:
    order_id = await _order(pipeline, "ext-3", 5)
    await pipeline.submit(_filled("venue-3", order_id, "buy", 5, 100.0))
    other = await pipeline.submit(_filled("venue-3-other", order_id, "buy", 5, 100.5))
    assert other.outcome is Outcome.SKIPPED and "the book holds fill" in other.reason
    assert pipeline.paper_broker.positions()[SYMBOL].avg_price == 100.0
    orders = await pipeline.services.store.open_orders()
    assert orders == [] and pipeline.paper_broker.positions()[SYMBOL].quantity == 5
    assert {o.status for o in [await pipeline.services.store.get_order_for_event("ext-3")] if o} == {OrderStatus.FILLED}


# ---- SYSTEM_HEALTH ----------------------------------------------------------------------------------------


def _health(event_id: str, component: str, status: str) -> dict[str, Any]:
    return _event(event_id, EventType.SYSTEM_HEALTH, {"component": component, "status": status, "detail": "probe"})


async def test_the_broker_down_reduces_the_account_and_a_degraded_store_warns(pipeline: Pipeline) -> None:
    down = await pipeline.submit(_health("health-1", "broker", "down"))
    assert down.outcome is Outcome.APPLIED and down.operation is not None
    assert [r["rule_id"] for r in down.operation["rules"] if r["status"] == "matched"] == ["health-broker-down-reduces"]
    states = await pipeline.trading.states()
    assert states.account.state is TradingState.REDUCING and "health-broker-down-reduces" in states.account.reason
    back = await pipeline.submit(_health("health-2", "broker", "ok"))
    assert back.outcome is Outcome.SKIPPED  # an ok lifts nothing: an operator resumes
    assert (await pipeline.trading.states()).account.state is TradingState.REDUCING

    degraded = await pipeline.submit(_health("health-3", "postgres", "degraded"))
    assert degraded.outcome is Outcome.APPLIED
    levels = [(a.kind, a.level) for a in await pipeline.services.store.alerts()]
    assert ("system_health", AlertLevel.WARNING) in levels and ("system_health", AlertLevel.CRITICAL) in levels
    held = await pipeline.services.store.get_value("health:postgres")
    assert held is not None and held[0]["status"] == "degraded"


async def test_a_provider_reported_down_feeds_the_provider_tier(pipeline: Pipeline) -> None:
    clock = pipeline.services.clock
    assert isinstance(clock, SimulatedClock)
    await pipeline.submit(_health("provider-down-1", "provider:deepseek", "down"))
    clock.set(AT + timedelta(seconds=31))
    await pipeline.monitor.tick()  # failing for 30 s: the provider tier moves the account to REDUCING
    assert (await pipeline.trading.states()).account.state is TradingState.REDUCING
    ok = _health("provider-ok-1", "provider:deepseek", "ok")
    ok["event_time"] = clock.now().isoformat()
    decision = await pipeline.submit(ok)
    assert decision.operation is not None and decision.operation["tier"] == "provider deepseek succeeded"
    assert (await pipeline.trading.states()).account.state is TradingState.ACTIVE  # a success lifts the tier


# ---- ECONOMIC_RELEASE -------------------------------------------------------------------------------------


def _release(event_id: str, indicator: str, actual: float, forecast: float | None, **extra: Any) -> dict[str, Any]:
    payload = {"indicator": indicator, "actual": actual, "forecast": forecast, "previous": 3.1}
    return _event(event_id, EventType.ECONOMIC_RELEASE, payload, **extra)


async def test_a_release_deliberates_the_configured_symbols_as_news_in_its_chain(pipeline: Pipeline) -> None:
    decision = await pipeline.submit(_release("cpi-2013-06", "CPI", 3.4, 3.2, symbols=["JPM"]))
    assert decision.outcome is Outcome.APPLIED and decision.operation is not None
    assert decision.operation["symbols"] == ["JPM", "AAPL", "MSFT"]
    news = {s: await pipeline.services.store.get_decision(f"cpi-2013-06:{s}") for s in ("JPM", "AAPL", "MSFT")}
    assert all(d is not None and d.event_type == "NEWS" for d in news.values())
    aapl = news["AAPL"]
    assert aapl is not None and aapl.analysis is not None  # AAPL has a market context: deliberated
    chain = await pipeline.trace("cpi-2013-06:AAPL")  # the news belongs to the release's chain, caused by it
    assert chain.chain_id == "cpi-2013-06"
    assert {"cpi-2013-06:JPM", "cpi-2013-06:AAPL", "cpi-2013-06:MSFT"} <= {step.id for step in chain.steps}

    again = await pipeline.submit(_release("cpi-2013-06", "CPI", 3.4, 3.2, symbols=["JPM"]))
    assert again == decision  # redelivered: the first decision; its news are not decided twice
    assert len([d for d in await pipeline.services.store.decisions() if d.event_type == "NEWS"]) == 3


async def test_a_release_in_line_with_its_forecast_deliberates_nothing_but_the_posture_is_re_evaluated(
    pipeline: Pipeline,
) -> None:
    quiet = await pipeline.submit(_release("cpi-in-line", "CPI", 3.21, 3.2))
    assert quiet.outcome is Outcome.APPLIED and quiet.operation is not None and quiet.operation["symbols"] == []
    assert quiet.operation["posture"]["posture"] == "offensive"  # the VIX of 14, evaluated at once
    assert "posture re-evaluated: offensive" in quiet.reason
    evaluated = (await pipeline.posture.book()).evaluated
    assert evaluated is not None and evaluated.at == AT  # recorded by the posture control
    other = await pipeline.submit(_release("ppi-1", "PPI", 2.0, 1.0))
    assert other.outcome is Outcome.SKIPPED and "no symbol is configured for PPI" in other.reason
    assert not [d for d in await pipeline.services.store.decisions() if d.event_type == "NEWS"]


# ---- one routing table -----------------------------------------------------------------------------------


def test_every_event_type_has_its_flow_and_every_flow_is_served_to_studio() -> None:
    served = json.loads((ROOT / "langgraph.json").read_text())["graphs"]
    assert set(served) == set(FLOW_BUILDERS)
    assert set(ROUTES.values()) | {DELIBERATION} == set(FLOW_BUILDERS)
    deliberated = set(EventType) - set(ROUTES)
    assert deliberated == {EventType.MARKET_TICK, EventType.SIGNAL_GENERATED, EventType.NEWS}


# ---- the bots' flows on this backend ----------------------------------------------------------------------


async def test_the_bots_flows_act_through_this_backends_controls(pipeline: Pipeline) -> None:
    await pipeline.bots.register(
        [Bot(bot_id=b, strategy="test", allocation=0.2, since=AT) for b in ("tech", "banks", "energy")],
        actor="test", reason="three bots",
    )  # fmt: skip
    status = _event("err-1", EventType.BOT_STATUS, {"bot_id": "tech", "status": "error", "error_rate": 0.35})
    assert (await pipeline.submit(status)).outcome is Outcome.APPLIED
    anomaly = _event("an-1", EventType.ANOMALY_DETECTED, {"rule": "bot.loss_streak", "severity": "HIGH"},
                     bot_id="banks")  # fmt: skip
    assert (await pipeline.submit(anomaly)).outcome is Outcome.APPLIED
    breaker = _event("br-1", EventType.CIRCUIT_BREAKER, {"scope": "bots", "bot_ids": ["energy"],
                                                         "daily_loss_pct": 11.0, "reason": "drill"})  # fmt: skip
    assert (await pipeline.submit(breaker)).outcome is Outcome.APPLIED
    assert {b.bot_id: b.running for b in await pipeline.bots.bots()} == {"tech": False, "banks": False,
                                                                          "energy": False}  # fmt: skip
    due = _event("rb-1", EventType.REBALANCING_DUE, {"portfolio_id": "bots", "reason": "weekly"})
    rebalance = await pipeline.submit(due)
    assert rebalance.outcome is Outcome.SKIPPED  # no history of the bots' days yet: the allocation stays
    move = _event("an-2", EventType.ANOMALY_DETECTED, {"rule": "market.price_move", "severity": "HIGH"},
                  symbols=[SYMBOL])  # fmt: skip
    assert (await pipeline.submit(move)).outcome is Outcome.APPLIED
    assert (await pipeline.trading.states()).effective(SYMBOL).state is TradingState.REDUCING


# ---- bad input to the new flows ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "payload", "field"),
    [
        (EventType.ORDER_FILLED, {"order_id": "o", "side": "buy", "quantity": 1.0, "price": 10.0,
                                  "reason": "margin_call"}, "reason"),
        (EventType.ORDER_FILLED, {"order_id": "o", "side": "buy", "quantity": -1.0, "price": 10.0}, "quantity"),
        (EventType.SYSTEM_HEALTH, {"component": "broker", "status": "on fire"}, "status"),
        (EventType.ECONOMIC_RELEASE, {"indicator": "CPI", "actual": "3.4"}, "actual"),
    ],
)  # fmt: skip
async def test_a_bad_event_of_a_new_type_is_a_dead_letter_that_names_its_field(
    pipeline: Pipeline, kind: EventType, payload: dict[str, Any], field: str
) -> None:
    extra = {"symbols": [SYMBOL]} if kind is EventType.ORDER_FILLED else {}
    bad = _event(f"bad-{kind.value.lower()}", kind, payload, **extra)
    cash = pipeline.paper_broker.cash()
    decision = await pipeline.submit(bad)
    assert decision.outcome is Outcome.REJECTED and field in decision.reason and "Traceback" not in decision.reason
    assert [dead["event_id"] for dead in await pipeline.services.store.rejected_events()] == [bad["id"]]
    assert (
        pipeline.paper_broker.cash() == cash and (await pipeline.trading.states()).account.state is TradingState.ACTIVE
    )
    assert (await pipeline.submit(bad)).outcome is Outcome.REJECTED  # the same answer on redelivery
