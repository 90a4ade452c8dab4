"""The circuit-breaker flow: normalize -> stop_bots -> persist.

A CIRCUIT_BREAKER event carries the breaker's decision (`tools.ops.breaker`, made by the bot supervisor
on the feed's clock, or sent by an operator): scope `bots` stops the bots it names, scope `all` every
registered bot, when the rules say so (`state.rules`: by default `daily-loss-stops-losing-bots`, which an
operator can change at runtime; a rule that cannot be judged stops them, the safe side). Each stop is
audited with the event's reason and the rule; the bots stay stopped until an operator resumes them or,
with `breaker.resume = next_day`, until the next day starts. A bot already stopped keeps its first stop.
One alert, at the level the rule's `alert` action asks (CRITICAL by default), names the bots stopped and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from langgraph.types import Checkpointer

from graphs.deliberation.services import Services
from graphs.deliberation.state import DeliberationState, Settlement
from graphs.operations import Graph, OpsServices, build_operation_graph
from graphs.wiring import Update
from state.alerts import AlertLevel
from state.decisions import Outcome
from state.events import Cause, CircuitBreakerEvent, EventType
from state.rules import ActionKind, RuleBook, event_facts

ACTOR = "circuit_breaker"


def build_breaker_graph(services: Services, ops: OpsServices, checkpointer: Checkpointer = None) -> Graph:
    async def stop_bots(state: DeliberationState) -> Update:
        event = state["parsed"]
        assert isinstance(event, CircuitBreakerEvent)  # the flow settles other types at normalize
        payload = event.payload
        registered = {bot.bot_id: bot for bot in await ops.bots.bots()}
        targets = list(registered) if payload.scope == "all" else list(dict.fromkeys(payload.bot_ids))
        why = payload.reason or f"daily loss {payload.daily_loss_pct:.2f} %"
        verdict = _judge(RuleBook(rules=tuple(await ops.rules.rules())), event)
        if verdict.stop is None:
            found = {"scope": payload.scope, "reason": why, "stopped": [], "rules": verdict.outcomes}
            reason = f"circuit breaker ({payload.scope}): no rule stops bots for it ({why})"
            return {"findings": found, "settled": Settlement(Outcome.SKIPPED, reason)}
        stop_reason = f"circuit breaker ({payload.scope}): {why} ({verdict.stop})"
        until = _next_day(ops.clock.now()) if ops.breaker.resume == "next_day" else None
        stopped: list[str] = []
        for bot_id in targets:
            bot = registered.get(bot_id)
            if bot is not None and bot.running:
                await ops.bots.stop(bot_id, actor=ACTOR, reason=stop_reason, until=until)
                stopped.append(bot_id)
        findings = {
            "scope": payload.scope,
            "reason": why,
            "stopped": stopped,
            "already_stopped": [b for b in targets if b in registered and b not in stopped],
            "unknown": [b for b in targets if b not in registered],
            "until": until.isoformat() if until is not None else "an operator resumes them",
            "rules": verdict.outcomes,
        }
        if not stopped:
            reason = f"circuit breaker ({payload.scope}): no running bot to stop ({why})"
            return {"findings": findings, "settled": Settlement(Outcome.SKIPPED, reason)}
        message = f"circuit breaker ({payload.scope}) stopped {', '.join(stopped)}: {why}"
        await ops.raise_alert(
            verdict.alert,
            "circuit_breaker",
            message,
            dedup_key=f"circuit_breaker:{event.id}",
            detail=findings,
            cause=Cause.of_event(event),
        )
        return {"findings": findings, "settled": Settlement(Outcome.APPLIED, message)}

    return build_operation_graph(
        "breaker", EventType.CIRCUIT_BREAKER, [("stop_bots", stop_bots)], services, checkpointer
    )


@dataclass(frozen=True, slots=True)
class _Verdict:
    stop: str | None  # why the bots stop (the rule, or a rule that could not be judged); None: no rule stops them
    alert: AlertLevel
    outcomes: list[dict[str, Any]]


def _judge(book: RuleBook, event: CircuitBreakerEvent) -> _Verdict:
    """The rules on a breaker event: the bots stop when a matched rule says so, and also when a rule cannot be
    judged (stopping is the safe side of a loss limit)."""
    outcomes = book.evaluate(event.type, event_facts(event))
    rules = {rule.rule_id: rule for rule in book.rules}
    as_json = [o.model_dump(mode="json") for o in outcomes]
    for outcome in outcomes:
        if outcome.status == "failed":
            return _Verdict(f"{outcome.reason}: stopped to fail safe", AlertLevel.CRITICAL, as_json)
        if outcome.status == "matched" and any(a.kind is ActionKind.STOP_LOSING_BOTS for a in outcome.actions):
            levels = [str(a.params.get("level")) for a in outcome.actions if a.kind is ActionKind.ALERT]
            level = AlertLevel(levels[0]) if levels and levels[0] in set(AlertLevel) else AlertLevel.CRITICAL
            why = f"rule {outcome.rule_id} v{outcome.version}: {rules[outcome.rule_id].description}"
            return _Verdict(why, level, as_json)
    return _Verdict(None, AlertLevel.CRITICAL, as_json)


def _next_day(now: datetime) -> datetime:
    """The start (00:00 UTC) of the day after `now`'s."""
    return datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), time.min, tzinfo=UTC)
