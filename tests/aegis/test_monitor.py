"""The failure tiers acting on a real pipeline (SQLite, paper broker) on a fake clock: every threshold just
below, at and above it, and what each tier does to the trading state, the orders and the alerts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from aegis import Pipeline, Settings
from agents.llm.rules import validator_policy
from quant.data_quality import MismatchTier
from state.alerts import AlertLevel
from state.clock import SimulatedClock
from state.context_loader import STOP_LOSS_STREAK_COUNTER
from state.orders import Fill, FillReason, OrderRequest, OrderType, Side
from state.trading import TradingState
from tests.conftest import SESSION_DAY, bundled_bars
from tools.ops.trading import ResetRequiredError

BARS = bundled_bars()
T0 = BARS[SESSION_DAY].time


@pytest.fixture
async def pipeline(tmp_path: Path) -> AsyncIterator[Pipeline]:
    clock = SimulatedClock(T0)
    opened = await Pipeline.open(Settings(data_dir=tmp_path / "data", checkpoints=False), clock=clock)
    await opened.paper_broker.on_bar("AAPL", BARS[SESSION_DAY - 1])
    try:
        yield opened
    finally:
        await opened.close()


def clock_of(pipeline: Pipeline) -> SimulatedClock:
    clock = pipeline.services.clock
    assert isinstance(clock, SimulatedClock)
    return clock


async def at(pipeline: Pipeline, seconds: float) -> None:
    clock_of(pipeline).set(T0 + timedelta(seconds=seconds))
    await pipeline.monitor.tick()


async def state(pipeline: Pipeline, scope: str = "account") -> TradingState:
    states = await pipeline.trading.states()
    return states.account.state if scope == "account" else states.effective(scope).state


async def kinds(pipeline: Pipeline) -> list[str]:
    return [a.kind for a in await pipeline.services.store.alerts()]


async def place_buy(pipeline: Pipeline, event_id: str) -> None:
    request = OrderRequest(
        event_id=event_id, symbol="AAPL", side=Side.BUY, quantity=10, order_type=OrderType.LIMIT,
        limit_price=BARS[SESSION_DAY].close, created_at=clock_of(pipeline).now(),
    )  # fmt: skip
    await pipeline.paper_broker.submit(request)


async def test_provider_failing_30_s_reduces_and_5_min_enters_safe_mode(pipeline: Pipeline) -> None:
    await place_buy(pipeline, "open-1")
    await pipeline.monitor.provider_call(False)
    await at(pipeline, 29.999)
    assert await state(pipeline) is TradingState.ACTIVE and await kinds(pipeline) == []
    await at(pipeline, 30.0)
    assert await state(pipeline) is TradingState.REDUCING
    assert await kinds(pipeline) == ["provider_outage"]
    assert len(await pipeline.services.store.open_orders()) == 1  # REDUCING keeps orders; safe mode cancels
    await at(pipeline, 299.999)
    assert len(await pipeline.services.store.open_orders()) == 1
    await at(pipeline, 300.0)
    assert await pipeline.services.store.open_orders() == []
    assert (await kinds(pipeline))[0] == "provider_safe_mode"
    assert list((pipeline.settings.data_dir / "snapshots").glob("snapshot-provider_safe_mode-*.json"))
    await pipeline.monitor.provider_call(True)
    assert await state(pipeline) is TradingState.ACTIVE
    assert [t.tier for t in pipeline.monitor.transitions] == ["reducing", "safe_mode", "normal"]


async def test_feed_silence_tiers(pipeline: Pipeline) -> None:
    await place_buy(pipeline, "open-2")
    await pipeline.monitor.heartbeat()
    await at(pipeline, 3.0)
    assert pipeline.monitor.transitions == []
    await at(pipeline, 3.001)
    assert [t.tier for t in pipeline.monitor.transitions] == ["cached"]
    assert pipeline.monitor.cached_data_age_s() == pytest.approx(3.001)
    await at(pipeline, 10.0)
    assert await state(pipeline) is TradingState.ACTIVE
    await at(pipeline, 10.001)
    assert await state(pipeline) is TradingState.REDUCING
    assert await pipeline.services.store.open_orders() == []
    await at(pipeline, 30.0)
    assert await state(pipeline) is TradingState.REDUCING
    await at(pipeline, 30.001)
    assert await state(pipeline) is TradingState.HALTED
    assert set(await kinds(pipeline)) == {"feed_down", "feed_halt"}
    await pipeline.monitor.heartbeat()  # the feed is back: a halt on the feed still needs a reset
    assert await state(pipeline) is TradingState.HALTED
    with pytest.raises(ResetRequiredError):
        await pipeline.resume(reason="feed looks fine", actor="ops")
    await pipeline.resume(reason="feed checked", actor="ops", reset=True)
    assert await state(pipeline) is TradingState.ACTIVE


async def test_a_short_feed_outage_lifts_what_it_set(pipeline: Pipeline) -> None:
    await pipeline.monitor.heartbeat()
    await at(pipeline, 12.0)
    assert await state(pipeline) is TradingState.REDUCING
    await pipeline.monitor.heartbeat()
    assert await state(pipeline) is TradingState.ACTIVE


@pytest.mark.parametrize(
    ("broker", "tier"),
    [(100.49, MismatchTier.IGNORE), (100.5, MismatchTier.ASK_VALIDATOR), (102.0, MismatchTier.ASK_VALIDATOR),
     (102.01, MismatchTier.HALT_AND_ASK_HUMAN)],
)  # fmt: skip
async def test_price_mismatch_tiers(pipeline: Pipeline, broker: float, tier: MismatchTier) -> None:
    assert await pipeline.monitor.price_check("AAPL", broker_price=broker, market_price=100.0) is tier
    context = await pipeline.services.loader.load("AAPL")
    if tier is MismatchTier.IGNORE:
        assert context.price_mismatches == {}
    else:
        assert context.price_mismatches["AAPL"] == pytest.approx(broker - 100.0)
    halted = tier is MismatchTier.HALT_AND_ASK_HUMAN
    assert await state(pipeline, "AAPL") is (TradingState.HALTED if halted else TradingState.ACTIVE)
    assert await state(pipeline, "MSFT") is TradingState.ACTIVE  # a symbol halt is not an account halt
    assert ("price_mismatch" in await kinds(pipeline)) is halted


def test_the_rules_validator_vetoes_entries_on_a_price_mismatch() -> None:
    facts = {"price_mismatch_pct": 1.2, "signal": {"direction": "long"}, "report": {}, "posture": {}}
    verdict = validator_policy(facts)
    assert verdict["verdict"] == "veto" and verdict["violated_checks"] == ["prices_agree"]
    closing = validator_policy({**facts, "signal": {"direction": "short"}})
    assert closing["verdict"] == "approve"


async def test_three_stop_losses_in_a_row_force_the_defensive_posture(pipeline: Pipeline) -> None:
    def exit_fill(n: int, reason: FillReason) -> Fill:
        return Fill(fill_id=f"f{n}", order_id=f"o{n}", event_id=f"e{n}", symbol="AAPL", side=Side.SELL,
                    quantity=1, price=100, fee=0, reason=reason, time=T0)  # fmt: skip

    await pipeline.services.hot.set_value("market:vix", 12.0)
    await pipeline.monitor.fills([exit_fill(1, FillReason.STOP_LOSS), exit_fill(2, FillReason.STOP_LOSS)])
    assert str((await pipeline.services.loader.load("AAPL")).posture) == "offensive"
    await pipeline.monitor.fills([exit_fill(3, FillReason.TAKE_PROFIT), exit_fill(4, FillReason.STOP_LOSS)])
    assert await pipeline.services.store.get_counter(STOP_LOSS_STREAK_COUNTER) == 1
    await pipeline.monitor.fills([exit_fill(5, FillReason.STOP_LOSS), exit_fill(6, FillReason.STOP_LOSS)])
    context = await pipeline.services.loader.load("AAPL")
    assert str(context.posture) == "defensive" and "3 stop-loss exits in a row" in context.posture_reason
    await at(pipeline, 1799.999)  # forced until the next posture evaluation, 30 min on
    assert str((await pipeline.services.loader.load("AAPL")).posture) == "defensive"
    await at(pipeline, 1800.0)
    assert await pipeline.services.store.get_counter(STOP_LOSS_STREAK_COUNTER) == 0
    assert str((await pipeline.services.loader.load("AAPL")).posture) == "offensive"


@pytest.mark.parametrize(("equity", "halted"), [(95_001.0, False), (95_000.0, True), (94_999.0, True)])
async def test_capital_down_5_percent_halts_until_a_reset(pipeline: Pipeline, equity: float, halted: bool) -> None:
    await pipeline.monitor.account(equity=equity, day_start_equity=100_000.0, positions={}, marks={})
    assert (await state(pipeline) is TradingState.HALTED) is halted
    emergency = [a for a in await pipeline.services.store.alerts() if a.level is AlertLevel.EMERGENCY]
    assert bool(emergency) is halted


@pytest.mark.parametrize(("drop", "breached"), [(989.0, False), (1_000.0, True), (1_011.0, True)])
async def test_loss_per_minute(pipeline: Pipeline, drop: float, breached: bool) -> None:
    monitor = pipeline.monitor
    await monitor.account(equity=100_000.0, day_start_equity=100_000.0, positions={}, marks={})
    clock_of(pipeline).advance(timedelta(seconds=59))
    await monitor.account(equity=100_000.0 - drop, day_start_equity=100_000.0, positions={}, marks={})
    assert ("loss_per_minute" in await kinds(pipeline)) is breached


async def test_a_broker_book_that_disagrees_with_the_store_halts(pipeline: Pipeline) -> None:
    assert await pipeline.monitor.check_integrity() == []
    await pipeline.services.store.replace_positions([])  # same as the broker: fine
    position = BARS[SESSION_DAY]
    from state.orders import Position

    await pipeline.services.store.replace_positions(
        [Position(symbol="AAPL", quantity=5, avg_price=position.close, opened_at=T0, opened_by_event="x")]
    )
    problems = await pipeline.monitor.check_integrity()
    assert problems == ["AAPL: broker 0, store 5"]
    assert await state(pipeline) is TradingState.HALTED


async def test_alerts_deduplicate_escalate_and_stop_when_acknowledged(pipeline: Pipeline) -> None:
    alerting = pipeline.alerting
    first, new = await alerting.raise_alert(AlertLevel.CRITICAL, "drill", "one")
    again, new_again = await alerting.raise_alert(AlertLevel.CRITICAL, "drill", "two")
    assert new and not new_again and again.alert_id == first.alert_id
    clock = clock_of(pipeline)
    clock.advance(timedelta(minutes=4, seconds=59))
    assert await alerting.escalate() == []
    clock.advance(timedelta(seconds=1))
    assert [a.escalation_step for a in await alerting.escalate()] == [1]
    clock.advance(timedelta(minutes=10))
    assert [a.escalation_step for a in await alerting.escalate()] == [3]
    await alerting.acknowledge(first.alert_id, "ops")
    clock.advance(timedelta(minutes=30))
    assert await alerting.escalate() == []
    third, new_third = await alerting.raise_alert(AlertLevel.CRITICAL, "drill", "after the ack")
    assert new_third and third.alert_id != first.alert_id
    await alerting.drain()
    deliveries = await pipeline.services.store.deliveries(first.alert_id)
    assert deliveries and {d.channel for d in deliveries} == {"log"}
