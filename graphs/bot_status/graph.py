"""The bot-status flow: normalize -> apply_rules -> persist.

A BOT_STATUS event reports on one bot (`payload.bot_id`): a heartbeat, its state, its API error rate. The
bot's last status is kept (durable value `bot_status:<bot id>`, with the event's time), and the rules of
BOT_STATUS judge it (`state.rules`; by default `bot-api-errors-stop-bot`: an error rate of 30 % or more stops
the bot at once, with a CRITICAL alert). The actions are performed by `graphs.rule_actions` (`stop_bot`,
`alert`); any other action of a matched rule is recorded and alerted as not performed here.
"""

from __future__ import annotations

from langgraph.types import Checkpointer

from graphs.deliberation.services import Services
from graphs.deliberation.state import DeliberationState
from graphs.operations import Graph, OpsServices, build_operation_graph
from graphs.rule_actions import RuleActions
from graphs.wiring import Update
from state.events import BotStatusEvent, EventType
from state.rules import ActionKind

STATUS_KEY = "bot_status:{bot_id}"


def build_bot_status_graph(services: Services, ops: OpsServices, checkpointer: Checkpointer = None) -> Graph:
    actions = RuleActions(ops, "bot_status", frozenset({ActionKind.STOP_BOT, ActionKind.ALERT}))

    async def apply_rules(state: DeliberationState) -> Update:
        event = state["parsed"]
        assert isinstance(event, BotStatusEvent)  # the flow settles other types at normalize
        payload = event.payload
        status = {"status": payload.status, "error_rate": payload.error_rate, "event_id": event.id}
        await ops.store.put_value(STATUS_KEY.format(bot_id=payload.bot_id), status, event.event_time)
        outcomes, performed = await actions.answer(event, bot_id=payload.bot_id, symbol=None)
        found = {"bot_id": payload.bot_id, "status": payload.status, "error_rate": payload.error_rate}
        return await actions.settle(event.id, f"bot {payload.bot_id} {payload.status}", outcomes, performed, found)

    return build_operation_graph(
        "bot_status", EventType.BOT_STATUS, [("apply_rules", apply_rules)], services, checkpointer
    )
