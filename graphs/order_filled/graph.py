"""The order-filled flow: normalize -> book -> persist.

An ORDER_FILLED event is a fill the execution venue reports for an order AEGIS placed (or for its position's
bracket, `payload.reason` stop_loss / take_profit). `book` hands it to the broker's book
(`Broker.book_report`):
- it matches the open order (whole) or the bracketed position: booked (fill, position, cash in one write),
  and the fill feeds the failure tiers (`RiskMonitor.fills`: three stop-losses in a row force the defensive
  posture); APPLIED;
- the book holds it already (the paper broker filled it itself, or the venue reported it twice): SKIPPED,
  nothing changes;
- anything else (an order the book did not place or has closed, a partial fill, another side, quantity or
  price than the booked fill, a buy the cash cannot cover): not booked; the book and the venue disagree, so
  new entries in the symbol stop (REDUCING, until an operator reconciles and resumes it) and a CRITICAL alert
  says what differs; SKIPPED.
"""

from __future__ import annotations

from langgraph.types import Checkpointer

from graphs.deliberation.services import Services
from graphs.deliberation.state import DeliberationState, Settlement
from graphs.operations import Graph, OpsServices, build_operation_graph
from graphs.wiring import Update
from state.alerts import AlertLevel
from state.decisions import Outcome
from state.events import Cause, EventType, OrderFilledEvent
from state.orders import FillReason, Side
from tools.broker.base import FillReport, FillReportError

ACTOR = "order_filled"
BRACKET = {"stop_loss": FillReason.STOP_LOSS, "take_profit": FillReason.TAKE_PROFIT}


def build_order_filled_graph(services: Services, ops: OpsServices, checkpointer: Checkpointer = None) -> Graph:
    async def book(state: DeliberationState) -> Update:
        event = state["parsed"]
        assert isinstance(event, OrderFilledEvent)  # the flow settles other types at normalize
        p, symbol = event.payload, event.symbol or ""
        report = FillReport(order_id=p.order_id, symbol=symbol, side=Side(p.side), quantity=p.quantity,
                            price=p.price, fee=p.fee, at=event.event_time,
                            reason=BRACKET.get(p.reason or ""))  # fmt: skip
        found = {"order_id": p.order_id, "symbol": symbol, "side": p.side, "quantity": p.quantity, "price": p.price,
                 "reason": p.reason}  # fmt: skip
        try:
            fill, new = await services.broker.book_report(report)
        except FillReportError as exc:
            why = f"the venue's fill of {p.order_id} does not match the book: {exc}"
            await ops.trading.reduce(reason=why, actor=ACTOR, scope=symbol)
            message = f"{why}; new entries in {symbol} stopped until an operator reconciles and resumes it"
            await ops.raise_alert(AlertLevel.CRITICAL, "fill_mismatch", message, dedup_key=f"fill_mismatch:{event.id}",
                                  cause=Cause.of_event(event))  # fmt: skip
            return {"findings": {**found, "booked": False}, "settled": Settlement(Outcome.SKIPPED, message)}
        findings = {**found, "booked": new, "fill_id": fill.fill_id, "bot_id": fill.bot_id}
        if not new:
            reason = f"the book already holds {fill.fill_id} ({fill.side} {fill.quantity:g} {symbol} at {fill.price:g})"
            return {"findings": findings, "settled": Settlement(Outcome.SKIPPED, reason)}
        await ops.health.fills([fill])
        reason = f"booked {fill.fill_id}: {fill.side} {fill.quantity:g} {symbol} at {fill.price:g} ({fill.reason})"
        return {"findings": findings, "settled": Settlement(Outcome.APPLIED, reason)}

    return build_operation_graph("order_filled", EventType.ORDER_FILLED, [("book", book)], services, checkpointer)
