"""The system-health flow: normalize -> assess -> persist.

A SYSTEM_HEALTH event reports one component's health (`ok`, `degraded`, `down`), from the health monitor or
an outside watcher. The component's last report is kept (durable value `health:<component>`, with the
event's time), and:
- the failure tiers hear what is theirs (`aegis.runtime.monitor`): `provider` or `provider:<name>` ok/down is
  a provider call's outcome (30 s failing -> REDUCING, 5 min -> safe mode; a success lifts them); `feed` or
  `feed:<name>` ok is the feed's heartbeat (its silence is the feed tier's own clock, so degraded/down change
  nothing there: the silence that follows does);
- the rules of SYSTEM_HEALTH judge every report (`state.rules`; by default the broker down moves the account
  to REDUCING with a CRITICAL alert, any other component down raises a CRITICAL alert, degraded a WARNING),
  performed by `graphs.rule_actions`. Nothing is lifted by a report of `ok`: a state set by a rule is lifted
  by an operator (`aegis resume`), a tier's by the tier.
"""

from __future__ import annotations

from langgraph.types import Checkpointer

from graphs.deliberation.services import Services
from graphs.deliberation.state import DeliberationState
from graphs.operations import Graph, OpsServices, build_operation_graph
from graphs.rule_actions import RuleActions
from graphs.wiring import Update
from state.events import EventType, SystemHealthEvent
from state.rules import ActionKind

HEALTH_KEY = "health:{component}"
PERFORMED = frozenset({ActionKind.SET_TRADING_STATE, ActionKind.ALERT})


def build_system_health_graph(services: Services, ops: OpsServices, checkpointer: Checkpointer = None) -> Graph:
    actions = RuleActions(ops, "system_health", PERFORMED)

    async def assess(state: DeliberationState) -> Update:
        event = state["parsed"]
        assert isinstance(event, SystemHealthEvent)  # the flow settles other types at normalize
        payload = event.payload
        kind, _, name = payload.component.partition(":")
        report = {"status": payload.status, "detail": payload.detail, "event_id": event.id}
        await ops.store.put_value(HEALTH_KEY.format(component=payload.component), report, event.event_time)
        tier = None
        if kind == "provider" and payload.status != "degraded":
            await ops.health.provider_call(payload.status == "ok", name or "llm")
            tier = f"provider {name or 'llm'} {'succeeded' if payload.status == 'ok' else 'failed'}"
        elif kind == "feed" and payload.status == "ok":
            await ops.health.heartbeat()
            tier = "feed heartbeat"
        outcomes, performed = await actions.answer(event, bot_id=event.bot, symbol=event.symbol)
        if tier is not None:
            performed.done.append(f"failure tiers told: {tier}")
        found = {"component": payload.component, "status": payload.status, "detail": payload.detail, "tier": tier}
        return await actions.settle(event.id, f"{payload.component} {payload.status}", outcomes, performed, found)

    return build_operation_graph("system_health", EventType.SYSTEM_HEALTH, [("assess", assess)], services, checkpointer)
