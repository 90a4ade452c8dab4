"""What sessions leave behind: dead letters, one order per event, the failure streak and posture history."""

from __future__ import annotations

from agents.llm.client import ProviderUnavailableError
from agents.llm.scripted import Scripted, ScriptedClient
from state.context_loader import FAILED_SESSIONS_COUNTER
from state.decisions import Outcome
from state.events import Bar
from state.orders import OrderRequest, OrderType, Side
from tests.conftest import SYMBOL, PipelineFactory, signal
from tests.graphs.test_deliberation import APPROVE, HOLD, LONG, buy


async def test_an_invalid_event_is_rejected_recorded_and_answered(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    pipeline = await make_pipeline()
    bad = signal("e-bad", session_bar)
    bad["payload"]["bar"]["volume"] = -10
    decision = await pipeline.submit(bad)
    assert decision.outcome is Outcome.REJECTED
    assert [e.field for e in decision.rejection] == ["payload.bar.volume"]
    assert await pipeline.services.store.get_decision("e-bad") == decision
    dead_letters = await pipeline.services.store.rejected_events()
    assert [d["event_id"] for d in dead_letters] == ["e-bad"]


async def test_an_event_without_an_id_still_gets_a_record(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    decision = await pipeline.submit({"type": "NEWS", "payload": {}})
    assert decision.outcome is Outcome.REJECTED
    assert decision.event_id.startswith("rejected-")
    assert {e.field for e in decision.rejection} >= {"id", "source", "event_time"}


async def test_a_non_market_event_goes_to_its_own_flow_without_any_llm_call(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    client = ScriptedClient({"analyst": [LONG], "validator": [APPROVE], "commander": [HOLD]})
    pipeline = await make_pipeline({"scripted": client}, provider="scripted")
    status = {
        "id": "e-health", "type": "SYSTEM_HEALTH", "source": "ops", "event_time": session_bar.time.isoformat(),
        "payload": {"component": "feed", "status": "ok"},
    }  # fmt: skip
    decision = await pipeline.submit(status)
    assert decision.outcome is Outcome.APPLIED and decision.analysis is None  # the system-health flow
    request = {
        "id": "e-ask", "type": "OPERATOR_REQUEST", "source": "ops", "event_time": session_bar.time.isoformat(),
        "payload": {"operator": "ana", "request": "show the positions"},
    }  # fmt: skip
    answered = await pipeline.submit(request)  # the workflow, its roles on the rules baseline
    assert answered.outcome is Outcome.ANSWERED and answered.analysis is None
    assert client.requests == []


async def test_the_same_event_twice_gives_one_order_and_the_same_decision(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    client = ScriptedClient({"analyst": [LONG], "validator": [APPROVE], "commander": [buy(session_bar.close)]})
    pipeline = await make_pipeline({"scripted": client}, provider="scripted")
    first = await pipeline.submit(signal("e-once", session_bar))
    again = await pipeline.submit(signal("e-once", session_bar))
    assert first.outcome is Outcome.ORDERED
    assert again == first
    assert client.calls("commander") == 1  # the redelivery did not deliberate again
    assert len(await pipeline.services.store.open_orders()) == 1


async def test_a_redelivery_after_a_restart_returns_the_recorded_decision(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    client = ScriptedClient({"analyst": [LONG], "validator": [APPROVE], "commander": [buy(session_bar.close)]})
    first_run = await make_pipeline({"scripted": client}, provider="scripted")
    first = await first_run.submit(signal("e-restart", session_bar))
    data_dir = first_run.settings.data_dir
    await first_run.close()
    second_run = await make_pipeline({"scripted": client}, provider="scripted", data_dir=data_dir)
    again = await second_run.submit(signal("e-restart", session_bar))
    assert again == first
    assert len(await second_run.services.store.open_orders()) == 1
    assert second_run.paper_broker.cash() == first_run.paper_broker.cash()


async def test_an_order_already_at_the_broker_is_not_placed_twice(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    """A crash after the broker accepted the order but before the decision was saved: the rerun of the
    session reaches the broker again with the same event id and gets the first order back."""
    client = ScriptedClient({"analyst": [LONG], "validator": [APPROVE], "commander": [buy(session_bar.close)]})
    pipeline = await make_pipeline({"scripted": client}, provider="scripted")
    earlier = OrderRequest(
        event_id="e-crash", symbol="AAPL", side=Side.BUY, quantity=3, order_type=OrderType.LIMIT,
        limit_price=session_bar.close, created_at=session_bar.time,
    )  # fmt: skip
    placed = await pipeline.paper_broker.submit(earlier)
    rerun = await pipeline.submit(signal("e-crash", session_bar))
    assert rerun.outcome is Outcome.ORDERED
    assert rerun.order == placed
    assert len(await pipeline.services.store.open_orders()) == 1


async def test_three_failed_sessions_in_a_row_switch_the_posture_to_defensive(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    down = Scripted(error=ProviderUnavailableError("connection refused"))
    client = ScriptedClient({"analyst": [down], "validator": [APPROVE], "commander": [HOLD]})
    pipeline = await make_pipeline({"scripted": client}, provider="scripted", vix=12.0)
    store = pipeline.services.store
    postures = []
    for n in range(4):
        decision = await pipeline.submit(signal(f"e-fail-{n}", session_bar))
        assert decision.outcome is Outcome.HOLD and decision.failed_stages == ["analyst"]
        postures.append(decision.posture)
    assert postures == ["offensive", "offensive", "offensive", "defensive"]
    assert await store.get_counter(FAILED_SESSIONS_COUNTER) == 4
    history = [(posture, reason) for _, posture, reason, _ in await store.posture_history()]
    assert history[0][0] == "offensive"
    assert history[-1][0] == "defensive" and "3 consecutive failed sessions" in history[-1][1]
    actions = [entry["action"] for entry in await store.audit_log()]
    assert "posture_forced_defensive" in actions


async def test_a_successful_session_ends_the_failure_streak(make_pipeline: PipelineFactory, session_bar: Bar) -> None:
    down = Scripted(error=ProviderUnavailableError("connection refused"))
    client = ScriptedClient({"analyst": [down, down, Scripted(LONG)], "validator": [APPROVE], "commander": [HOLD]})
    pipeline = await make_pipeline({"scripted": client}, provider="scripted")
    for n in range(3):
        await pipeline.submit(signal(f"e-streak-{n}", session_bar))
    assert await pipeline.services.store.get_counter(FAILED_SESSIONS_COUNTER) == 0
    decision = await pipeline.submit(signal("e-streak-after", session_bar))
    assert decision.posture == "offensive"


async def test_a_redelivery_after_a_crash_between_order_and_decision_keeps_that_order(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    """The attempt that died had recorded the event and placed its order, but saved no decision: the
    redelivery settles on that order instead of asking the roles again (they might now say otherwise)."""
    client = ScriptedClient({"analyst": [LONG], "validator": [APPROVE], "commander": [HOLD]})
    pipeline = await make_pipeline({"scripted": client}, provider="scripted")
    raw = signal("e-died", session_bar)
    await pipeline.services.store.record_event("e-died", "SIGNAL_GENERATED", session_bar.time, raw)
    placed = await pipeline.paper_broker.submit(
        OrderRequest(
            event_id="e-died",
            symbol="AAPL",
            side=Side.BUY,
            quantity=5,
            order_type=OrderType.LIMIT,
            limit_price=session_bar.close,
            created_at=session_bar.time,
        )
    )
    decision = await pipeline.submit(raw)
    assert decision.outcome is Outcome.ORDERED and decision.order == placed
    assert "earlier attempt" in decision.reason
    assert client.requests == []  # the roles were not asked again


async def test_the_posture_is_recorded_once_and_entry_order_types_reach_the_next_session(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    orders = [buy(session_bar.close), buy(session_bar.close, order_type="market", limit_price=None)]
    client = ScriptedClient({"analyst": [LONG] * 2, "validator": [APPROVE] * 2, "commander": orders})
    pipeline = await make_pipeline({"scripted": client}, provider="scripted", vix=12.0)
    placed = []
    for n in range(2):
        decision = await pipeline.submit(signal(f"e-entry-{n}", session_bar))
        assert decision.outcome is Outcome.ORDERED and decision.order is not None, decision.reason
        placed.append(str(decision.order.request.order_type))
    history = await pipeline.services.store.posture_history()
    assert [posture for _, posture, _, _ in history] == ["offensive"]  # the second session's was no change
    context = await pipeline.services.loader.load(SYMBOL)
    assert str(context.posture) == "offensive"
    assert context.recent_entry_order_types == tuple(placed) and len(placed) == 2
