"""Tracing a correlation chain: what an event caused, step by step, with each step's decision.

This module owns the typed chain (`Trace`, its `TraceStep`s) built from the records of one chain
(`DurableStore.chain`): the root event and its decision, the order the decision placed, the order's fills,
a bracket's stop-loss or take-profit exit, and what that exit caused (the stop-loss streak forcing the
defensive posture, a circuit breaker's event and its decision, alerts). Any id of the chain finds it: an
event's (or its decision's), an order's, a fill's, an alert's; the whole chain comes back from its root,
the asked step marked. It reads records and never writes.

Each step names its direct cause (`caused_by`); a step whose cause is missing from the records (a record
written before chains existed, a cause outside them) hangs under the root, so nothing of the chain is left
out. Steps come in tree order: a cause before what it caused, siblings by time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from state.alerts import Alert
from state.decisions import DecisionRecord
from state.orders import Fill, FillReason, Order
from state.store.base import ChainRecords, DurableStore, RecordedEvent

__all__ = ["StepDecision", "StepKind", "Trace", "TraceStep", "UnknownRecordError", "build_trace", "trace_chain"]

RECENT_IDS = 5  # ids of the last decisions an unknown id's error suggests
# Alerts that say the posture changed: forced by a stop-loss streak, or a session deciding in another posture.
POSTURE_ALERTS = frozenset({"stop_loss_streak", "posture_change"})


class UnknownRecordError(ValueError):
    """No event, decision, order, fill or alert of the records has the asked id."""


class StepKind(StrEnum):
    EVENT = "event"
    ORDER = "order"
    FILL = "fill"
    EXIT = "exit"
    POSTURE_CHANGE = "posture change"
    ALERT = "alert"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StepDecision(_Frozen):
    """An event's decision in one line: outcome, reason, the stages' verdicts."""

    outcome: str
    reason: str
    verdicts: str  # e.g. "analyst long 0.72 · validator approve · commander buy 5% market"


class TraceStep(_Frozen):
    id: str
    kind: StepKind
    label: str  # the event type, "order", "entry fill", "stop-loss exit", "posture change", "alert <kind>"
    at: datetime
    summary: str
    caused_by: str | None  # the direct cause's id (None: the root, or a root of its own)
    depth: int  # 0 for the root
    decision: StepDecision | None = None
    asked: bool = False


class Trace(_Frozen):
    chain_id: str  # the root event's id
    asked_id: str
    steps: tuple[TraceStep, ...]  # tree order

    def step(self, step_id: str) -> TraceStep | None:
        return next((s for s in self.steps if s.id == step_id), None)


async def trace_chain(store: DurableStore, record_id: str) -> Trace:
    """The chain `record_id` belongs to, from its root. `UnknownRecordError` (naming the last decisions'
    ids) when the records hold nothing under that id."""
    chain_id = await store.chain_of(record_id)
    if chain_id is None:
        recent = [d.event_id for d in await store.recent_outcomes(RECENT_IDS)]
        hint = f"the last decisions: {', '.join(recent)}" if recent else "these records hold no decision yet"
        raise UnknownRecordError(
            f"no event, order, fill or alert {record_id!r} in these records; trace takes any of their ids ({hint})"
        )
    return build_trace(await store.chain(chain_id), record_id)


# ---- building the tree ------------------------------------------------------------------------------


class _Node(_Frozen):
    id: str
    kind: StepKind
    label: str
    at: datetime
    summary: str
    caused_by: str | None
    decision: StepDecision | None = None
    rank: int  # ties at one time: events, orders, fills, exits, alerts


def build_trace(records: ChainRecords, asked_id: str) -> Trace:
    """The typed chain of `records`, `asked_id` marked (a decision's id marks its event's step)."""
    decisions = {d.event_id: d for d in records.decisions}
    nodes: dict[str, _Node] = {}
    for event in records.events:
        nodes[event.event_id] = _event_node(event, decisions.get(event.event_id))
    for decision in records.decisions:  # a decision whose event row is missing still shows
        nodes.setdefault(decision.event_id, _decision_node(decision))
    for order in records.orders:
        nodes[order.order_id] = _order_node(order)
    fill_ids = {f.fill_id for f in records.fills}
    for fill in records.fills:
        nodes[fill.fill_id] = _fill_node(fill, fill_ids)
    for alert in records.alerts:
        nodes[alert.alert_id] = _alert_node(alert)
    root = records.chain_id if records.chain_id in nodes else None

    children: dict[str | None, list[_Node]] = {}
    for node in nodes.values():
        parent = node.caused_by if node.caused_by in nodes and node.caused_by != node.id else None
        if parent is None and node.id != root:
            parent = root  # a cause outside the records: under the root, never lost
        children.setdefault(parent, []).append(node)

    steps: list[TraceStep] = []

    def walk(parent: str | None, depth: int) -> None:
        for node in sorted(children.get(parent, []), key=lambda n: (n.at, n.rank, n.id)):
            steps.append(
                TraceStep(
                    id=node.id,
                    kind=node.kind,
                    label=node.label,
                    at=node.at,
                    summary=node.summary,
                    caused_by=node.caused_by,
                    depth=depth,
                    decision=node.decision,
                    asked=node.id == asked_id,
                )
            )
            walk(node.id, depth + 1)

    walk(None, 0)
    return Trace(chain_id=records.chain_id, asked_id=asked_id, steps=tuple(steps))


def _event_node(event: RecordedEvent, decision: DecisionRecord | None) -> _Node:
    raw = event.raw
    cause = raw.get("causation_id")
    return _Node(
        id=event.event_id,
        kind=StepKind.EVENT,
        label=event.event_type,
        at=_time(raw.get("event_time")) or event.received_at,
        summary=_event_summary(event.event_type, raw),
        caused_by=cause if isinstance(cause, str) and cause else None,
        decision=_decision(decision) if decision is not None else None,
        rank=0,
    )


def _decision_node(decision: DecisionRecord) -> _Node:
    return _Node(
        id=decision.event_id,
        kind=StepKind.EVENT,
        label=decision.event_type,
        at=decision.decided_at,
        summary=" ".join(p for p in (decision.symbol, f"bot {decision.bot_id}" if decision.bot_id else None) if p),
        caused_by=decision.causation_id,
        decision=_decision(decision),
        rank=0,
    )


def _order_node(order: Order) -> _Node:
    r = order.request
    price = f" {r.limit_price:g}" if r.limit_price is not None else ""
    bracket = "".join(
        f", {name} {value:g}"
        for name, value in (("stop", r.stop_loss_price), ("target", r.take_profit_price))
        if value is not None
    )
    return _Node(
        id=order.order_id,
        kind=StepKind.ORDER,
        label="order",
        at=r.created_at,
        summary=f"{r.side} {r.quantity:g} {r.symbol} {r.order_type}{price}{bracket}: {order.status} (bot {r.bot_id})",
        caused_by=r.event_id,
        rank=1,
    )


_FILL_LABELS = {
    FillReason.ENTRY: "entry fill",
    FillReason.EXIT: "exit fill",
    FillReason.STOP_LOSS: "stop-loss exit",
    FillReason.TAKE_PROFIT: "take-profit exit",
}


def _fill_node(fill: Fill, fill_ids: set[str]) -> _Node:
    bracket = fill.reason in (FillReason.STOP_LOSS, FillReason.TAKE_PROFIT)
    cause = fill.causation_id
    if cause is None:  # written before chains: an order's fill, or a bracket exit of the entry it closes
        entry = f"fill-{fill.event_id}-{FillReason.ENTRY.value}"
        cause = entry if bracket and entry in fill_ids else fill.order_id
    what = f"{fill.side} {fill.quantity:g} {fill.symbol} @ {fill.price:.2f}, fee {fill.fee:.2f}"
    return _Node(
        id=fill.fill_id,
        kind=StepKind.FILL if fill.reason is FillReason.ENTRY else StepKind.EXIT,
        label=_FILL_LABELS[fill.reason],
        at=fill.time,
        summary=f"{what} (bot {fill.bot_id})",
        caused_by=cause,
        rank=2 if fill.reason is FillReason.ENTRY else 3,
    )


def _alert_node(alert: Alert) -> _Node:
    posture = alert.kind in POSTURE_ALERTS
    return _Node(
        id=alert.alert_id,
        kind=StepKind.POSTURE_CHANGE if posture else StepKind.ALERT,
        label="posture change" if posture else f"alert {alert.kind}",
        at=alert.raised_at,
        summary=f"{alert.level.upper()}: {alert.message}",
        caused_by=alert.causation_id,
        rank=4,
    )


# ---- the words of a step ----------------------------------------------------------------------------


def _decision(record: DecisionRecord) -> StepDecision:
    return StepDecision(outcome=str(record.outcome), reason=record.reason, verdicts=verdicts(record))


def verdicts(record: DecisionRecord) -> str:
    """The stages' verdicts in one line: what each role said, what the guard changed, what failed."""
    parts: list[str] = []
    analysis, verdict, command = record.analysis or {}, record.verdict or {}, record.command or {}
    if analysis:
        confidence = analysis.get("confidence")
        shown = f" {confidence:.2f}" if isinstance(confidence, int | float) else ""
        parts.append(f"analyst {analysis.get('direction', '?')}{shown}")
    if verdict:
        violated = verdict.get("violated_checks") or []
        parts.append(f"validator {verdict.get('verdict', '?')}" + (f" ({', '.join(violated)})" if violated else ""))
    if command:
        size = command.get("size_pct")
        shown = f" {size:g}%" if isinstance(size, int | float) else ""
        parts.append(f"commander {command.get('action', '?')}{shown} {command.get('order_type', '')}".rstrip())
    if record.guard_changes:
        parts.append("guard " + ", ".join(f"{c.field} {c.before}->{c.after}" for c in record.guard_changes))
    parts.extend(f"{stage} failed" for stage in record.failed_stages)
    if not parts and record.operation:
        rules = record.operation.get("rules") or []
        parts.extend(
            f"rule {r.get('rule_id')} {r.get('status')}" for r in rules if isinstance(r, dict) and r.get("rule_id")
        )
    return " · ".join(parts) if parts else "no role deliberated"


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _signal(payload: Mapping[str, Any]) -> str:
    strength = payload.get("strength")
    shown = f" strength {strength:.2f}" if isinstance(strength, int | float) else ""
    return f"{payload.get('direction', '?')} {payload.get('signal', '?')}{shown}"


def _breaker(payload: Mapping[str, Any]) -> str:
    bots = ", ".join(str(b) for b in payload.get("bot_ids") or []) or "every bot"
    loss = payload.get("daily_loss_pct")
    shown = f", daily loss {loss:.2f} %" if isinstance(loss, int | float) else ""
    return f"scope {payload.get('scope', '?')}: {bots}{shown}"


def _rebalance(payload: Mapping[str, Any]) -> str:
    return f"portfolio {payload.get('portfolio_id', '?')} ({payload.get('reason', '?')})"


_PAYLOAD_SUMMARIES: Mapping[str, Callable[[Mapping[str, Any]], str]] = {
    "SIGNAL_GENERATED": _signal,
    "CIRCUIT_BREAKER": _breaker,
    "REBALANCING_DUE": _rebalance,
}


def _event_summary(event_type: str, raw: Mapping[str, Any]) -> str:
    symbols = raw.get("symbols")
    parts = [" ".join(str(s) for s in symbols)] if isinstance(symbols, list) and symbols else []
    payload = raw.get("payload")
    describe = _PAYLOAD_SUMMARIES.get(event_type)
    if describe is not None and isinstance(payload, Mapping):
        parts.append(describe(payload))
    bot = raw.get("bot_id")
    if isinstance(bot, str):
        parts.append(f"(bot {bot})")
    return " ".join(parts)
