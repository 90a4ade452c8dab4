"""The bot-status flow: normalize -> apply_rules -> persist.

A BOT_STATUS event reports on one bot (`payload.bot_id`): a heartbeat, its state, its API error rate. The
bot's last status is kept (durable value `bot_status:<bot id>`, with the event's time), and the rules of
BOT_STATUS judge it (`state.rules`; by default `bot-api-errors-stop-bot`: an error rate of 30 % or more stops
the bot at once, with a CRITICAL alert). The actions this flow performs: `stop_bot` (the reported bot, or the
rule's `bot_id` parameter), `alert`, `proceed` and `skip`; any other action of a matched rule is recorded as
not performed here, with a WARNING alert, so a rule written for another flow is never silently ignored.
"""

from __future__ import annotations

from typing import Any

from langgraph.types import Checkpointer

from graphs.deliberation.services import Services
from graphs.deliberation.state import DeliberationState, Settlement
from graphs.operations import Graph, OpsServices, build_operation_graph
from graphs.wiring import Update
from state.alerts import AlertLevel
from state.decisions import Outcome
from state.events import BotStatusEvent, EventType
from state.rules import Action, ActionKind, RuleBook, event_facts

ACTOR = "rules"
STATUS_KEY = "bot_status:{bot_id}"
_NOTHING_TO_DO = frozenset({ActionKind.PROCEED, ActionKind.SKIP})
NOT_PERFORMED = "not performed by the bot-status flow"


def build_bot_status_graph(services: Services, ops: OpsServices, checkpointer: Checkpointer = None) -> Graph:
    async def apply_rules(state: DeliberationState) -> Update:
        event = state["parsed"]
        assert isinstance(event, BotStatusEvent)  # the flow settles other types at normalize
        payload = event.payload
        status = {"status": payload.status, "error_rate": payload.error_rate, "event_id": event.id}
        await ops.store.put_value(STATUS_KEY.format(bot_id=payload.bot_id), status, event.event_time)
        book = RuleBook(rules=tuple(await ops.rules.rules()))
        outcomes = book.evaluate(event.type, event_facts(event))
        descriptions = {rule.rule_id: rule.description for rule in book.rules}
        registered = {bot.bot_id: bot for bot in await ops.bots.bots()}
        done: list[str] = []
        for outcome in outcomes:
            if outcome.status != "matched":
                continue
            why = f"rule {outcome.rule_id} v{outcome.version}: {descriptions[outcome.rule_id]}"
            for action in outcome.actions:
                done.extend(await _perform(action, why, payload.bot_id, event.id, registered))
        failed = [o.reason for o in outcomes if o.status == "failed"]
        findings: dict[str, Any] = {
            "bot_id": payload.bot_id,
            "status": payload.status,
            "error_rate": payload.error_rate,
            "rules": [o.model_dump(mode="json") for o in outcomes],
            "done": done,
        }
        if failed:  # a rule that cannot be judged acts on nothing; someone should look at it
            await ops.raise_alert(
                AlertLevel.WARNING, "rule_failed", "; ".join(failed), dedup_key=f"rule_failed:{event.id}"
            )
        performed = [step for step in done if not step.startswith(NOT_PERFORMED)]
        if not performed:
            notes = "; ".join([*failed, *(step for step in done if step.startswith(NOT_PERFORMED))])
            reason = f"bot {payload.bot_id} {payload.status}: no rule acts on it" + (f" ({notes})" if notes else "")
            return {"findings": findings, "settled": Settlement(Outcome.SKIPPED, reason)}
        summary = f"bot {payload.bot_id}: {'; '.join(done)}"
        return {"findings": findings, "settled": Settlement(Outcome.APPLIED, summary)}

    async def _perform(action: Action, why: str, bot_id: str, event_id: str, registered: dict[str, Any]) -> list[str]:
        if action.kind in _NOTHING_TO_DO:
            return []
        if action.kind is ActionKind.STOP_BOT:
            target = str(action.params.get("bot_id", bot_id))
            bot = registered.get(target)
            if bot is None:
                return [f"{NOT_PERFORMED}: no bot {target} to stop ({why})"]
            if not bot.running:
                return []
            await ops.bots.stop(target, actor=ACTOR, reason=why)
            return [f"stopped {target} ({why})"]
        if action.kind is ActionKind.ALERT:
            level = AlertLevel(str(action.params["level"]))
            await ops.raise_alert(level, "bot_status", f"bot {bot_id}: {why}", dedup_key=f"bot_status:{event_id}:{why}")
            return [f"{level} alert"]
        message = f"{NOT_PERFORMED}: action {action.kind} of {why}"
        await ops.raise_alert(
            AlertLevel.WARNING, "rule_action_unsupported", message, dedup_key=f"unsupported:{event_id}"
        )
        return [message]

    return build_operation_graph(
        "bot_status", EventType.BOT_STATUS, [("apply_rules", apply_rules)], services, checkpointer
    )
