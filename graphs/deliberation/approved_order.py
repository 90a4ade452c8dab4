"""Executing an order a person approved: the guard and `execute` again, against the account of that moment.

A parked order (`approval_gate`) waited outside its session; by the time a person approves it the price may
have moved, the book changed, the posture tightened or trading been halted. So the approval is not the order:
it is permission to run the deliberation's own last two steps again, with a context loaded now for the
symbol: the risk guard (`DeliberationNodes._guard`, which may clip or refuse the commander's order) and
`execute` (the trading-state check and the re-guard under the account lock, then the broker).

Decisions that must not be silently changed:
- Exactly one order per event: an order already placed for the event is returned as the result, never a
  second (the broker's submit is idempotent by event id too), so approving again after a crash is safe.
- Only an APPROVED approval of kind ORDER executes; the result says what was sent, or why nothing was.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from agents.commander import CommanderOrder
from graphs.deliberation.nodes import DeliberationNodes
from graphs.deliberation.services import Services
from graphs.deliberation.state import DeliberationState, Settlement
from state.approvals import Approval, ApprovalKind, ApprovalStatus
from state.decisions import Outcome
from state.events import EventRejectedError, parse_event
from state.orders import Order


class NotAnApprovedOrderError(ValueError):
    """Only an approved ORDER approval executes."""


async def execute_approved(services: Services, approval: Approval) -> dict[str, Any]:
    """Run the approved order against the account as it stands now; the result to keep on the approval:
    `outcome` (ordered, blocked, execution_failed), `reason`, `order` (the order placed, or None) and
    `guard_changes` (what the guard clipped this time)."""
    if approval.kind is not ApprovalKind.ORDER or approval.status is not ApprovalStatus.APPROVED:
        raise NotAnApprovedOrderError(f"approval {approval.approval_id} is a {approval.status} {approval.kind}")
    placed = await _placed(services, approval)
    if placed is not None:
        return placed
    raw = approval.detail.get("event")
    if not isinstance(raw, dict):  # a hand-edited record: nothing is sent on a guess
        return _result(Settlement(Outcome.BLOCKED, "the approval holds no event"), None)
    try:
        event = parse_event(raw, now=services.clock.now())
        command = CommanderOrder.model_validate(approval.detail.get("command"))
    except (EventRejectedError, ValueError) as exc:  # a hand-edited record: nothing is sent on a guess
        return _result(Settlement(Outcome.BLOCKED, f"the approval's order does not parse: {exc}"), None)
    nodes = DeliberationNodes(services)
    state: DeliberationState = {
        "event": raw,
        "parsed": event,
        "context": await services.loader.load(event.symbol),
        "command": command,
    }
    guard = await nodes._guard(state)  # the deliberation's own guard, on the book and price of this moment
    changes = [asdict(change) for change in guard.changes]
    if guard.order is None:
        settled = Settlement(Outcome.BLOCKED, f"risk guard: {guard.rejected_because}")
    else:
        state["guard"] = guard
        update = await nodes.execute(state)
        settled, order = update["settled"], update.get("order")
        if order is not None:
            return _result(settled, order, changes)
    # Two runs of one approval at once (an approval retried while the first still ran): the second finds the
    # first's order in the book and is refused; the order placed for the event is the result, not the refusal.
    return await _placed(services, approval) or _result(settled, None, changes)


async def _placed(services: Services, approval: Approval) -> dict[str, Any] | None:
    """The result for an order already placed for the approval's event, or None when there is none."""
    placed = await services.store.get_order_for_event(approval.subject_id)
    if placed is None:
        return None
    return _result(Settlement(Outcome.ORDERED, "an order was already placed for this event"), placed)


def _result(settled: Settlement, order: Order | None, changes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "outcome": str(settled.outcome),
        "reason": settled.reason,
        "order": order.model_dump(mode="json") if order is not None else None,
        "guard_changes": changes or [],
    }
