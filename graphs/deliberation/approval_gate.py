"""The `approval_gate` node: between the risk guard and `execute`, parks an order the approval policy says
must wait for a person (`approval_policy.ApprovalPolicy`).

A parked order becomes an `Approval` of kind ORDER, id `order:<event id>`, holding what a person needs to
decide: the event as received, the commander's order, the guarded order and the guard's changes, the roles'
views and the context they saw. The session then ends with the outcome "awaiting approval" (its reason names
the approval and its expiry): it neither holds its wave's turn nor waits for the person. Approving it later
re-runs the guard and `execute` against the book of that moment (`approved_order`).

Decisions that must not be silently changed:
- Fail closed: an order the policy parks with no approvals desk wired (`Services.approvals` None) is blocked,
  never executed unasked.
- Opening is idempotent by the event id: a redelivered event finds the approval it opened the first time.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from langgraph.runtime import Runtime

from graphs.deliberation.context import RunKnobs
from graphs.deliberation.nodes import DeliberationNodes
from graphs.deliberation.state import DeliberationState, Settlement
from quant.risk_guard import GuardedOrder
from state.approvals import Approval, ApprovalKind, ApprovalStatus, approval_id, decided_as
from state.context import SessionContext
from state.decisions import Outcome
from state.events import Cause
from state.orders import Side

Update = dict[str, Any]
REQUESTER = "deliberation"  # who asks for an order's approval


class ApprovalGate:
    def __init__(self, nodes: DeliberationNodes) -> None:
        self._nodes = nodes

    async def approval_gate(self, state: DeliberationState, runtime: Runtime[RunKnobs]) -> Update:
        guarded, context, event = state["guard"].order, state["context"], state["parsed"]
        assert guarded is not None  # routed here only with an order the guard let through
        policy = self._nodes.config(runtime).approvals
        reduces = guarded.side == Side.SELL.value and context.portfolio.quantity(guarded.symbol) > 0
        why = policy.reason_to_park(
            guarded, equity=context.portfolio.equity, mode=context.mode, bot=event.bot, reduces=reduces
        )
        if why is None:
            return {}
        desk = self._nodes.s.approvals
        if desk is None:
            return {"settled": Settlement(Outcome.BLOCKED, f"approval needed ({why}) but no approvals desk is wired")}
        now = self._nodes.s.clock.now()
        asked = Approval(
            approval_id=approval_id(ApprovalKind.ORDER, event.id),
            kind=ApprovalKind.ORDER,
            subject_id=event.id,
            requested_by=REQUESTER,
            summary=f"{_order_line(guarded, context)} for event {event.id} (bot {event.bot}): {why}",
            needs=policy.approver_role,
            detail=_detail(state, guarded, why),
            created_at=now,
            expires_at=now + timedelta(seconds=policy.timeout_s),
        )
        held = await desk.open(asked, Cause.of_event(event))
        return {"settled": _settlement(held)}


def _settlement(held: Approval) -> Settlement:
    if held.pending:
        until = held.expires_at.isoformat() if held.expires_at is not None else "no expiry"
        return Settlement(Outcome.AWAITING_APPROVAL, f"awaiting approval {held.approval_id} until {until}")
    if held.status is ApprovalStatus.APPROVED:  # an earlier attempt parked it and it was approved since
        return Settlement(
            Outcome.AWAITING_APPROVAL, f"approval {held.approval_id} was {decided_as(held)}; it executes from there"
        )
    return Settlement(Outcome.BLOCKED, f"approval {held.approval_id} was {decided_as(held)}")


def _order_line(order: GuardedOrder, context: SessionContext) -> str:
    limit = f" @ {order.limit_price:g}" if order.limit_price is not None else ""
    equity = context.portfolio.equity
    share = f", {100.0 * order.notional / equity:.2f} % of equity" if equity > 0 else ""
    return (
        f"{order.side} {order.quantity:g} {order.symbol} {order.order_type}{limit} "
        f"(notional {order.notional:,.2f}{share})"
    )


def _detail(state: DeliberationState, guarded: GuardedOrder, why: str) -> dict[str, Any]:
    """What a person decides on: the event, the commander's order, the guarded order and the guard's changes,
    and the decision so far (the roles' views and the context they saw; the session's full record is the
    decision saved under the event id)."""
    context = state["context"]
    market = context.market
    return {
        "why": why,
        "event": state["event"],
        "command": state["command"].model_dump(mode="json"),
        "guarded_order": {**asdict(guarded), "notional": guarded.notional},
        "guard_changes": [asdict(change) for change in state["guard"].changes],
        "decision": {
            "decision_id": state["parsed"].id,
            "analysis": state["analysis"].model_dump(mode="json") if "analysis" in state else None,
            "verdict": state["verdict"].model_dump(mode="json") if "verdict" in state else None,
            "posture": str(context.posture),
            "posture_reason": context.posture_reason,
            "mode": str(context.mode),
            "price": market.last.close if market is not None else None,
            "price_time": market.last.time.isoformat() if market is not None else None,
            "equity": context.portfolio.equity,
            "cash": context.portfolio.cash,
            "held": context.portfolio.quantity(guarded.symbol),
            "context_hash": context.digest(),
            "stages": [stage.model_dump(mode="json") for stage in state.get("stages", [])],
        },
    }
