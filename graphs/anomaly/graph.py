"""The anomaly flow: normalize -> respond -> persist.

An ANOMALY_DETECTED event names the rule that fired (`quant.anomalies.Rule`: `bot.*` or `market.*`), its
severity and evidence, and what it concerns: a bot (the envelope's `bot_id`, or `evidence.bot_id`) and/or a
symbol. The rules of ANOMALY_DETECTED answer it (`state.rules`; by default a bot anomaly of severity HIGH or
CRITICAL stops the bot at once, and any market anomaly blocks new entries in its symbol, each with an
alert), performed by `graphs.rule_actions`. Everything is in the decision record: the rules' outcomes with
their versions, what was done, and what was not.
"""

from __future__ import annotations

from langgraph.types import Checkpointer

from graphs.deliberation.services import Services
from graphs.deliberation.state import DeliberationState
from graphs.operations import Graph, OpsServices, build_operation_graph
from graphs.rule_actions import RuleActions
from graphs.wiring import Update
from state.events import AnomalyEvent, EventType
from state.rules import ActionKind

PERFORMED = frozenset({ActionKind.STOP_BOT, ActionKind.BLOCK_SYMBOL, ActionKind.SET_POSTURE, ActionKind.ALERT})


def build_anomaly_graph(services: Services, ops: OpsServices, checkpointer: Checkpointer = None) -> Graph:
    actions = RuleActions(ops, "anomaly", PERFORMED)

    async def respond(state: DeliberationState) -> Update:
        event = state["parsed"]
        assert isinstance(event, AnomalyEvent)  # the flow settles other types at normalize
        payload = event.payload
        named = payload.evidence.get("bot_id")
        bot_id = event.bot_id or (named if isinstance(named, str) else None) or event.bot
        outcomes, performed = await actions.answer(event, bot_id=bot_id, symbol=event.symbol,
                                                   extra={"bot_id": bot_id})  # fmt: skip
        subject = f"{payload.severity} anomaly {payload.rule}" + (f" on {event.symbol}" if event.symbol else "")
        found = {"rule": payload.rule, "severity": str(payload.severity), "bot_id": bot_id, "symbol": event.symbol,
                 "evidence": dict(payload.evidence)}  # fmt: skip
        return await actions.settle(event.id, subject, outcomes, performed, found)

    return build_operation_graph("anomaly", EventType.ANOMALY_DETECTED, [("respond", respond)], services, checkpointer)
