"""RUNE in the deliberation graph, with scripted roles: the guarded order is checked against the account's recent
orders just before `execute`; a manipulative pattern is blocked with the reason recorded, a reduction never is,
and every ordered decision shows RUNE ran."""

from __future__ import annotations

from datetime import timedelta

from aegis import Pipeline
from agents.llm.scripted import ScriptedClient
from graphs.deliberation.integrity import only_reduces
from graphs.order_views import candidate_view, order_views
from quant.market_integrity import CHECK_VERSION, IntegrityLimits, check_order
from quant.risk_guard import GuardedOrder
from state.bots import DEFAULT_BOT_ID
from state.decisions import DecisionRecord, Outcome, StageRecord, StageStatus
from state.events import Bar
from state.orders import OrderRequest, OrderStatus, OrderType, Position, Side
from state.store.base import AuditEntry
from state.trading import TradingState, TradingStates, TradingStatus
from tests.conftest import SYMBOL, PipelineFactory, ScriptedPerEvent, signal
from tests.graphs.test_deliberation import APPROVE, LONG, buy, script

SELL = {"action": "sell", "size_pct": 0, "order_type": "market", "rationale": "take the position off"}


def rune_stage(decision: DecisionRecord) -> StageRecord:
    [stage] = [s for s in decision.stages if s.stage == "rune"]
    return stage


async def place(
    pipeline: Pipeline, event_id: str, side: Side, price: float | None, ago_s: float = 0.0, bot: str = DEFAULT_BOT_ID
) -> str:
    """An order of the account placed straight at the broker (another bot, an operator, an earlier run)."""
    request = OrderRequest(
        event_id=event_id,
        symbol=SYMBOL,
        side=side,
        quantity=5,
        order_type=OrderType.MARKET if price is None else OrderType.LIMIT,
        limit_price=price,
        created_at=pipeline.services.clock.now() - timedelta(seconds=ago_s),
        bot_id=bot,
    )
    return (await pipeline.paper_broker.submit(request)).order_id


async def hold_position(pipeline: Pipeline, bar: Bar, quantity: float = 20) -> None:
    opened = bar.time - timedelta(days=3)
    held = Position(symbol=SYMBOL, quantity=quantity, avg_price=bar.close * 0.95, opened_at=opened,
                    opened_by_event="e-entry-earlier")  # fmt: skip
    await pipeline.services.store.replace_positions([held])


async def test_an_ordinary_order_passes_and_its_decision_shows_rune_ran(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    pipeline = await make_pipeline({"scripted": script(commander=buy(session_bar.close))}, provider="scripted")
    decision = await pipeline.submit(signal("e-clean", session_bar))
    assert decision.outcome is Outcome.ORDERED, decision.reason
    stage = rune_stage(decision)
    assert (stage.status, stage.provider, stage.model, stage.reason) == (StageStatus.OK, "rules", CHECK_VERSION, None)
    assert stage.parsed == {"findings": [], "reduces": False, "orders_checked": 0, "reference_price": session_bar.close}
    assert decision.stages[-1] is not None and decision.stages[-1].stage == "rune"


async def test_a_buy_that_would_cross_a_recent_sell_is_blocked_as_a_wash_trade(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    pipeline = await make_pipeline({"scripted": script(commander=buy(session_bar.close))}, provider="scripted")
    sell_id = await place(pipeline, "e-other-sell", Side.SELL, session_bar.close * 0.999, ago_s=30, bot="other")
    decision = await pipeline.submit(signal("e-wash", session_bar))
    assert decision.outcome is Outcome.BLOCKED
    assert decision.reason.startswith("RUNE: wash_trade: buy AAPL at")
    assert sell_id in decision.reason
    assert decision.order is None
    assert await pipeline.services.store.get_order_for_event("e-wash") is None  # nothing reached the broker
    stage = rune_stage(decision)
    assert stage.status is StageStatus.OK and stage.reason == decision.reason
    assert stage.parsed is not None
    [finding] = stage.parsed["findings"]
    assert finding["pattern"] == "wash_trade" and finding["order_ids"] == [sell_id, "e-wash"]
    assert decision.failed_stages == []  # a block is a verdict, not a failure


async def test_a_sell_that_does_not_cross_lets_the_buy_pass(make_pipeline: PipelineFactory, session_bar: Bar) -> None:
    pipeline = await make_pipeline({"scripted": script(commander=buy(session_bar.close))}, provider="scripted")
    await place(pipeline, "e-other-sell", Side.SELL, session_bar.close * 1.005, ago_s=30)
    decision = await pipeline.submit(signal("e-no-wash", session_bar))
    assert decision.outcome is Outcome.ORDERED, decision.reason
    assert rune_stage(decision).parsed == {
        "findings": [], "reduces": False, "orders_checked": 1, "reference_price": session_bar.close,
    }  # fmt: skip


async def test_a_layering_stack_is_blocked_at_its_third_order_within_one_wave(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    """Three sessions of one instant, each bidding 3 % under the market: they write in the wave's order, so the
    third sees the first two resting and is blocked, whatever the concurrency."""
    roles = ScriptedPerEvent(LONG, APPROVE)
    low = round(session_bar.close * 0.97, 2)
    for n in range(3):
        roles.script(f"e-layer-{n}", buy(low, size_pct=1.0))
    pipeline = await make_pipeline({"scripted": roles}, provider="scripted")
    events = [signal(f"e-layer-{n}", session_bar) for n in range(3)]
    decisions = await pipeline.submit_wave(events, concurrency=3)
    assert [d.outcome for d in decisions] == [Outcome.ORDERED, Outcome.ORDERED, Outcome.BLOCKED]
    third = decisions[2]
    assert third.reason.startswith("RUNE: layering: buy AAPL at")
    assert "no. 3" in third.reason and "more than 1% from the reference" in third.reason
    stage = rune_stage(third)
    assert stage.parsed is not None
    assert stage.parsed["findings"][0]["order_ids"] == ["ord-e-layer-0", "ord-e-layer-1", "e-layer-2"]
    assert [rune_stage(d).parsed["findings"] for d in decisions[:2]] == [[], []]  # type: ignore[index]


async def test_two_bids_away_from_the_market_are_not_yet_layering(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    low = round(session_bar.close * 0.97, 2)
    pipeline = await make_pipeline({"scripted": script(commander=buy(low, size_pct=1.0))}, provider="scripted")
    await place(pipeline, "e-bid-1", Side.BUY, low)
    decision = await pipeline.submit(signal("e-bid-2", session_bar))
    assert decision.outcome is Outcome.ORDERED, decision.reason


async def test_a_buy_after_quickly_cancelled_offers_above_the_market_is_blocked_as_spoofing(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    pipeline = await make_pipeline({"scripted": script(commander=buy(session_bar.close))}, provider="scripted")
    high = round(session_bar.close * 1.03, 2)
    offers = [await place(pipeline, f"e-offer-{n}", Side.SELL, high, ago_s=40) for n in range(3)]
    now = pipeline.services.clock.now()
    await pipeline.paper_broker.cancel_all("the offers are pulled", now)  # 40 s after they were placed
    decision = await pipeline.submit(signal("e-spoof", session_bar))
    assert decision.outcome is Outcome.BLOCKED
    assert decision.reason.startswith("RUNE: spoofing: buy AAPL would trade against 3 sell orders")
    stage = rune_stage(decision)
    assert stage.parsed is not None
    assert stage.parsed["findings"][0]["order_ids"] == [*offers, "e-spoof"]


async def test_offers_that_rested_longer_than_the_cancel_window_are_not_spoofing(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    pipeline = await make_pipeline({"scripted": script(commander=buy(session_bar.close))}, provider="scripted")
    high = round(session_bar.close * 1.03, 2)
    for n in range(3):
        await place(pipeline, f"e-offer-{n}", Side.SELL, high, ago_s=61)
    await pipeline.paper_broker.cancel_all("the offers are pulled", pipeline.services.clock.now())
    decision = await pipeline.submit(signal("e-no-spoof", session_bar))
    assert decision.outcome is Outcome.ORDERED, decision.reason


async def test_a_close_of_a_held_long_is_never_blocked(make_pipeline: PipelineFactory, session_bar: Bar) -> None:
    """The close would cross a resting bid and follows quickly cancelled bids under the market: a wash and a spoof
    for an entry, but a close only reduces exposure."""
    pipeline = await make_pipeline({"scripted": script(commander=SELL)}, provider="scripted")
    await hold_position(pipeline, session_bar)
    low = round(session_bar.close * 0.97, 2)
    for n in range(3):
        await place(pipeline, f"e-bid-{n}", Side.BUY, low, ago_s=10)
    await pipeline.paper_broker.cancel_all("the bids are pulled", pipeline.services.clock.now())
    await place(pipeline, "e-resting-bid", Side.BUY, session_bar.close)
    decision = await pipeline.submit(signal("e-close", session_bar, direction="short"))
    assert decision.outcome is Outcome.ORDERED, decision.reason
    assert decision.order is not None and decision.order.request.side is Side.SELL
    stage = rune_stage(decision)
    assert stage.parsed is not None
    assert stage.parsed["reduces"] is True and stage.parsed["findings"] == []
    # the same order, were it not a reduction, would complete both patterns with what the store held then
    others = [o for o in await pipeline.services.store.orders_since(session_bar.time) if o.event_id != "e-close"]
    candidate = candidate_view(_guarded("sell"), "e-close", DEFAULT_BOT_ID, pipeline.services.clock.now())
    found = check_order(candidate, order_views(others), session_bar.close, IntegrityLimits(), reduces=False)
    assert sorted(f.pattern for f in found) == ["spoofing", "wash_trade"]


def _guarded(side: str) -> GuardedOrder:
    return GuardedOrder(symbol=SYMBOL, side=side, quantity=5, order_type="market", limit_price=None,
                        stop_loss_price=None, take_profit_price=None, reference_price=100.0)  # fmt: skip


def test_only_a_sell_of_a_held_long_or_an_order_outside_active_trading_counts_as_a_reduction(session_bar: Bar) -> None:
    """What exempts the close above: the position held, not the side alone; and any order while the symbol is not
    ACTIVE (there the execute step decides, and only reductions pass)."""
    held = [Position(symbol=SYMBOL, quantity=20, avg_price=95.0, opened_at=session_bar.time, opened_by_event="e0")]
    other = [held[0].model_copy(update={"symbol": "MSFT"})]
    active = TradingStates.of([], session_bar.time)
    reducing = TradingStates.of(
        [TradingStatus(scope=SYMBOL, state=TradingState.REDUCING, reason="drill", actor="t", since=session_bar.time)],
        session_bar.time,
    )
    assert only_reduces(_guarded("sell"), held, active)
    assert not only_reduces(_guarded("sell"), other, active)
    assert not only_reduces(_guarded("sell"), [], active)
    assert not only_reduces(_guarded("buy"), held, active)
    assert only_reduces(_guarded("buy"), [], reducing)


async def test_in_reducing_state_rune_leaves_the_verdict_to_the_execute_step(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    pipeline = await make_pipeline({"scripted": script(commander=buy(session_bar.close))}, provider="scripted")
    await place(pipeline, "e-other-sell", Side.SELL, session_bar.close * 0.999, ago_s=30)
    now = pipeline.services.clock.now()
    reducing = TradingStatus(scope=SYMBOL, state=TradingState.REDUCING, reason="drill", actor="test", since=now)
    await pipeline.services.store.set_trading_state(reducing, _audit())
    decision = await pipeline.submit(signal("e-reducing", session_bar))
    assert decision.outcome is Outcome.BLOCKED
    assert decision.reason.startswith("execute: trading is reducing")
    stage = rune_stage(decision)
    assert stage.parsed is not None and stage.parsed["reduces"] is True and stage.parsed["findings"] == []


def _audit() -> AuditEntry:
    return AuditEntry("test", "trading_state", {"state": "reducing"})


async def test_the_checks_thresholds_come_from_config(make_pipeline: PipelineFactory, session_bar: Bar) -> None:
    client = ScriptedClient({"analyst": [LONG], "validator": [APPROVE], "commander": [buy(session_bar.close)]})
    pipeline = await make_pipeline({"scripted": client}, provider="scripted", integrity={"wash_window_s": 10.0})
    sold = await place(pipeline, "e-sold", Side.SELL, session_bar.close * 0.999, ago_s=30)
    # filled 20 s ago: outside a 10 s window (inside the default 300 s)
    order = await pipeline.services.store.get_order_for_event("e-sold")
    assert order is not None and order.order_id == sold
    ago = pipeline.services.clock.now() - timedelta(seconds=20)
    filled = order.model_copy(update={"status": OrderStatus.FILLED, "updated_at": ago})
    await pipeline.services.store.update_order(filled)
    decision = await pipeline.submit(signal("e-after-window", session_bar))
    assert decision.outcome is Outcome.ORDERED, decision.reason
