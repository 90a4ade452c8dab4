"""Orders that wait for a person, end to end with scripted roles: the approval policy parks a guarded order
(the session ends "awaiting approval"), and approving it runs the guard and execute again against the account
of that moment, exactly once; rejection and expiry send nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import aegis.pipeline
from aegis import Pipeline, Settings
from aegis.runtime.live_gate import LIVE_GATE_KEY
from aegis.services import RECORDS_FILE
from graphs.deliberation.config import DeliberationConfig
from state.access import Access, AccessDeniedError
from state.approvals import Approval, ApprovalStatus
from state.clock import SimulatedClock
from state.context import OperatingMode
from state.context_loader import VIX_KEY
from state.decisions import DecisionRecord, Outcome
from state.events import Bar
from state.store.base import AuditEntry
from state.store.factory import open_store
from tests.conftest import SESSION_DAY, SYMBOL, PipelineFactory, ScriptedPerEvent, bundled_bars, signal
from tools.ops.approvals import PENDING_ALERT, ApprovalControl, ApprovalDecidedError

LONG = {"direction": "long", "confidence": 0.8, "thesis": "trend up", "evidence": ["report.trend=up"]}
APPROVE = {"verdict": "approve", "reasons": ["checks pass"], "violated_checks": []}
EQUITY = 100_000.0
BARS = bundled_bars()
SESSION_BAR = BARS[SESSION_DAY]


def market_buy(size_pct: float = 2.0) -> dict[str, Any]:
    return {"action": "buy", "size_pct": size_pct, "order_type": "market", "stop_loss_pct": 1.0,
            "take_profit_pct": 2.0, "rationale": "enter on the cross"}  # fmt: skip


SELL = {"action": "sell", "size_pct": 0.0, "order_type": "market", "rationale": "take the profit"}


def roles(**commanders: dict[str, Any]) -> ScriptedPerEvent:
    scripted = ScriptedPerEvent(LONG, APPROVE)
    for event_id, reply in commanders.items():
        scripted.script(event_id, reply)
    return scripted


async def parked(make_pipeline: PipelineFactory, policy: dict[str, Any], **commanders: Any) -> Pipeline:
    return await make_pipeline({"scripted": roles(**commanders)}, provider="scripted", approvals=policy)


def clock_of(pipeline: Pipeline) -> SimulatedClock:
    clock = pipeline.services.clock
    assert isinstance(clock, SimulatedClock)
    return clock


async def orders_for(pipeline: Pipeline, event_id: str) -> int:
    return sum(o.request.event_id == event_id for o in await pipeline.services.store.open_orders())


def assert_parked(decision: DecisionRecord, approval: Approval) -> None:
    assert decision.outcome is Outcome.AWAITING_APPROVAL, decision.reason
    assert decision.order is None and decision.command is not None
    assert approval.expires_at is not None
    assert decision.reason == f"awaiting approval {approval.approval_id} until {approval.expires_at.isoformat()}"


# ---- parking ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "why"),
    [
        ({"all_orders": True}, "the policy parks every order"),
        ({"min_notional": 1_000.0}, "notional"),
        ({"min_size_pct": 1.5}, "% of equity >= 1.5 %"),
        ({"symbols": [SYMBOL]}, f"orders in {SYMBOL} wait"),
        ({"bots": ["default"]}, "orders of bot default wait"),
    ],
    ids=["all", "notional", "size", "symbol", "bot"],
)
async def test_each_policy_rule_parks_the_guarded_order_with_its_decision_record(
    make_pipeline: PipelineFactory, policy: dict[str, Any], why: str
) -> None:
    pipeline = await parked(make_pipeline, policy, e1=market_buy())
    decision = await pipeline.submit(signal("e1", SESSION_BAR))
    [approval] = await pipeline.approvals(ApprovalStatus.PENDING)
    assert_parked(decision, approval)
    assert approval.approval_id == "order:e1" and approval.subject_id == "e1" and approval.needs is Access.TRADE
    assert approval.expires_at == SESSION_BAR.time + timedelta(hours=1)
    assert why in approval.summary and approval.summary.startswith(f"buy {int(EQUITY * 0.02 / SESSION_BAR.close)} ")
    detail = approval.detail
    assert detail["event"]["id"] == "e1" and detail["command"]["size_pct"] == 2.0
    assert detail["guarded_order"]["quantity"] == int(EQUITY * 0.02 / SESSION_BAR.close)
    assert (
        detail["decision"]["analysis"]["thesis"] == "trend up" and detail["decision"]["verdict"]["verdict"] == "approve"
    )
    assert detail["decision"]["price"] == SESSION_BAR.close and detail["decision"]["decision_id"] == "e1"
    assert await orders_for(pipeline, "e1") == 0
    pages = [a for a in await pipeline.services.store.alerts() if a.kind == PENDING_ALERT]
    assert len(pages) == 1 and pages[0].correlation_id == "e1"
    assert await pipeline.submit(signal("e1", SESSION_BAR)) == decision  # a redelivery: the same decision


async def test_the_default_policy_parks_nothing_in_paper_mode(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline({"scripted": roles(e1=market_buy())}, provider="scripted")
    decision = await pipeline.submit(signal("e1", SESSION_BAR))
    assert decision.outcome is Outcome.ORDERED and await pipeline.approvals() == []


async def approve_live(records: Path) -> None:
    """Records an approval of mode live, as `aegis live enable` does once the paper record meets the gate (the
    gate itself is tested in tests/aegis/test_live_gate.py)."""
    await asyncio.to_thread(records.mkdir, parents=True, exist_ok=True)
    store = await open_store(None, records / RECORDS_FILE, SimulatedClock(SESSION_BAR.time))
    try:
        value = {"enabled": True, "approver": "ana", "reason": "test record"}
        await store.put_values_audited(
            [(LIVE_GATE_KEY, value)], AuditEntry("ana", "live_enabled", value), SESSION_BAR.time
        )
    finally:
        await store.close()


@pytest.fixture
async def live_pipeline(tmp_path: Path) -> AsyncIterator[Pipeline]:
    """Like `make_pipeline`, in live mode (which has no broker adapter yet: execute blocks what reaches it)."""
    scripted = roles(e1=market_buy())
    config = DeliberationConfig.model_validate(
        {"roles": {role: {"provider": "scripted"} for role in ("analyst", "validator", "commander")}}
    )
    settings = Settings(data_dir=tmp_path / "live", deliberation=config, mode=OperatingMode.LIVE)
    await approve_live(settings.data_dir)
    pipeline = await Pipeline.open(settings, clock=SimulatedClock(SESSION_BAR.time), providers={"scripted": scripted})
    for bar in BARS[SESSION_DAY - 119 : SESSION_DAY + 1]:
        await pipeline.services.hot.push_bar(SYMBOL, bar)
    await pipeline.services.hot.set_value(VIX_KEY, 14.0)
    yield pipeline
    await pipeline.close()


async def test_in_live_mode_every_order_waits_by_default(live_pipeline: Pipeline) -> None:
    decision = await live_pipeline.submit(signal("e1", SESSION_BAR))
    [approval] = await live_pipeline.approvals()
    assert_parked(decision, approval)
    assert "live mode" in approval.summary and approval.detail["decision"]["mode"] == "live"


async def test_an_order_that_only_reduces_exposure_is_never_parked(make_pipeline: PipelineFactory) -> None:
    pipeline = await parked(make_pipeline, {"all_orders": True}, e1=market_buy(), e2=SELL)
    await pipeline.submit(signal("e1", SESSION_BAR))
    await pipeline.approve("order:e1", by="ana", role=Access.TRADE, reason="entry looks right")
    feed = pipeline.market_feed(detect=False)
    await feed.bar(SYMBOL, BARS[SESSION_DAY + 1])  # the approved buy fills at this bar's open
    assert SYMBOL in pipeline.paper_broker.positions()
    decision = await pipeline.submit(signal("e2", BARS[SESSION_DAY + 1], direction="short"))
    assert decision.outcome is Outcome.ORDERED, decision.reason
    assert decision.order is not None and decision.order.request.side == "sell"
    assert [a.approval_id for a in await pipeline.approvals()] == ["order:e1"]


# ---- approving ----------------------------------------------------------------------------------------


async def test_approval_executes_exactly_one_order_and_keeps_it_as_the_result(make_pipeline: PipelineFactory) -> None:
    pipeline = await parked(make_pipeline, {"all_orders": True}, e1=market_buy())
    await pipeline.submit(signal("e1", SESSION_BAR))
    with pytest.raises(AccessDeniedError, match="needs the trade role; read does not allow it"):
        await pipeline.approve("order:e1", by="rita", role=Access.READ, reason="go")
    approved = await pipeline.approve("order:e1", by="ana", role=Access.TRADE, reason="entry looks right")
    assert approved.status is ApprovalStatus.APPROVED and approved.result is not None
    assert approved.result["outcome"] == "ordered"
    order = await pipeline.services.store.get_order_for_event("e1")
    assert order is not None and approved.result["order"]["order_id"] == order.order_id
    assert order.request.quantity == int(EQUITY * 0.02 / SESSION_BAR.close)
    with pytest.raises(ApprovalDecidedError, match="already approved by ana"):
        await pipeline.approve("order:e1", by="ana", role=Access.TRADE, reason="again")
    assert await orders_for(pipeline, "e1") == 1
    actions = [e["action"] for e in await pipeline.services.store.audit_log()]
    assert {"approval_opened", "approval_approved", "approval_result"} <= set(actions)


async def test_a_crash_between_the_decision_and_the_order_loses_nothing(
    make_pipeline: PipelineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = await parked(make_pipeline, {"all_orders": True}, e1=market_buy())
    await pipeline.submit(signal("e1", SESSION_BAR))

    async def dies(*_: Any) -> dict[str, Any]:
        raise RuntimeError("process killed")

    with monkeypatch.context() as patched:
        patched.setattr(aegis.pipeline, "execute_approved", dies)
        with pytest.raises(RuntimeError):
            await pipeline.approve("order:e1", by="ana", role=Access.TRADE, reason="go")
    held = (await pipeline.approvals(ApprovalStatus.APPROVED))[0]
    assert held.result is None and await orders_for(pipeline, "e1") == 0
    again = await pipeline.approve("order:e1", by="ana", role=Access.TRADE, reason="go (again after the crash)")
    assert again.result is not None and again.result["outcome"] == "ordered"
    assert await orders_for(pipeline, "e1") == 1


async def test_two_runs_of_one_approval_at_once_place_one_order_and_both_report_it(
    make_pipeline: PipelineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = await parked(make_pipeline, {"all_orders": True}, e1=market_buy())
    await pipeline.submit(signal("e1", SESSION_BAR))

    async def dies(*_: Any) -> dict[str, Any]:
        raise RuntimeError("process killed")

    with monkeypatch.context() as patched:
        patched.setattr(aegis.pipeline, "execute_approved", dies)
        with pytest.raises(RuntimeError):
            await pipeline.approve("order:e1", by="ana", role=Access.TRADE, reason="go")
    runs = await asyncio.gather(
        *(pipeline.approve("order:e1", by=who, role=Access.TRADE, reason="retry") for who in ("ana", "bob"))
    )
    assert await orders_for(pipeline, "e1") == 1
    assert [run.result["outcome"] if run.result else None for run in runs] == ["ordered", "ordered"]
    stored = (await pipeline.approvals())[0].result
    assert stored is not None and stored["outcome"] == "ordered"


async def test_a_crash_after_the_order_was_placed_never_places_a_second(
    make_pipeline: PipelineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = await parked(make_pipeline, {"all_orders": True}, e1=market_buy())
    await pipeline.submit(signal("e1", SESSION_BAR))

    async def dies(*_: Any) -> Approval:
        raise RuntimeError("process killed before the result was kept")

    with monkeypatch.context() as patched:
        patched.setattr(ApprovalControl, "record_result", dies)
        with pytest.raises(RuntimeError):
            await pipeline.approve("order:e1", by="ana", role=Access.TRADE, reason="go")
    placed = await pipeline.services.store.get_order_for_event("e1")
    assert placed is not None
    clock_of(pipeline).set(SESSION_BAR.time + timedelta(minutes=5))  # the price is stale by now: no re-guard runs
    again = await pipeline.approve("order:e1", by="ana", role=Access.TRADE, reason="go")
    assert again.result is not None and again.result["order"]["order_id"] == placed.order_id
    assert await orders_for(pipeline, "e1") == 1


async def test_an_approval_after_a_halt_is_blocked(make_pipeline: PipelineFactory) -> None:
    pipeline = await parked(make_pipeline, {"all_orders": True}, e1=market_buy())
    await pipeline.submit(signal("e1", SESSION_BAR))
    await pipeline.halt(reason="drill", actor="ops")
    approved = await pipeline.approve("order:e1", by="ana", role=Access.TRADE, reason="go")
    assert approved.result is not None and approved.result["outcome"] == "blocked"
    assert "HALTED" in approved.result["reason"].upper() and approved.result["order"] is None
    assert await pipeline.services.store.get_order_for_event("e1") is None


async def test_an_approval_after_the_price_moved_is_guarded_again_at_the_new_price(
    make_pipeline: PipelineFactory,
) -> None:
    pipeline = await parked(make_pipeline, {"all_orders": True}, e1=market_buy())
    await pipeline.submit(signal("e1", SESSION_BAR))
    parked_quantity = (await pipeline.approvals())[0].detail["guarded_order"]["quantity"]
    moved = 2 * SESSION_BAR.close  # half an hour later, within the approval's hour
    jump = Bar(time=SESSION_BAR.time + timedelta(minutes=30), open=moved, high=moved, low=moved, close=moved,
               volume=SESSION_BAR.volume)  # fmt: skip
    clock_of(pipeline).set(jump.time)
    await pipeline.services.hot.push_bar(SYMBOL, jump)
    result = (await pipeline.approve("order:e1", by="ana", role=Access.TRADE, reason="go")).result
    assert result is not None
    assert result["outcome"] == "ordered", result["reason"]
    quantity = result["order"]["request"]["quantity"]
    assert quantity == int(EQUITY * 0.02 / moved) < parked_quantity


async def test_an_approval_with_no_fresh_price_is_blocked_by_the_guard(make_pipeline: PipelineFactory) -> None:
    pipeline = await parked(make_pipeline, {"all_orders": True}, e1=market_buy())
    await pipeline.submit(signal("e1", SESSION_BAR))
    clock_of(pipeline).set(SESSION_BAR.time + timedelta(minutes=10))  # no bar since: the price is 10 min old
    approved = await pipeline.approve("order:e1", by="ana", role=Access.TRADE, reason="go")
    assert approved.result is not None and approved.result["outcome"] == "blocked"
    assert approved.result["reason"].startswith("risk guard:")
    assert await pipeline.services.store.get_order_for_event("e1") is None


# ---- rejecting, expiring ------------------------------------------------------------------------------


async def test_a_rejection_sends_nothing(make_pipeline: PipelineFactory) -> None:
    pipeline = await parked(make_pipeline, {"all_orders": True}, e1=market_buy())
    await pipeline.submit(signal("e1", SESSION_BAR))
    rejected = await pipeline.reject("order:e1", by="ana", role=Access.TRADE, reason="earnings tomorrow")
    assert rejected.status is ApprovalStatus.REJECTED and rejected.result is None
    with pytest.raises(ApprovalDecidedError, match="already rejected by ana"):
        await pipeline.approve("order:e1", by="bob", role=Access.ADMIN, reason="go")
    assert await pipeline.services.store.get_order_for_event("e1") is None


async def test_expiry_on_the_feed_s_clock_rejects_and_sends_nothing(make_pipeline: PipelineFactory) -> None:
    pipeline = await parked(make_pipeline, {"all_orders": True, "timeout_s": 600}, e1=market_buy())
    await pipeline.submit(signal("e1", SESSION_BAR))
    feed = pipeline.market_feed(detect=False)
    await feed.advance(SESSION_BAR.time + timedelta(seconds=599))
    assert [a.status for a in await pipeline.approvals()] == [ApprovalStatus.PENDING]
    await feed.advance(SESSION_BAR.time + timedelta(seconds=600))
    [expired] = await pipeline.approvals()
    assert expired.status is ApprovalStatus.EXPIRED and "nobody decided within 600 s" in (expired.reason or "")
    assert await pipeline.expire_approvals() == []
    with pytest.raises(ApprovalDecidedError, match="already expired"):
        await pipeline.approve("order:e1", by="ana", role=Access.TRADE, reason="late")
    assert await pipeline.services.store.get_order_for_event("e1") is None
