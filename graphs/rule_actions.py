"""Performing the actions of the rules an operations flow matched: one executor for every flow.

This module owns what each action does when a flow performs it, through the controls that own the state
(`tools.ops.bots`, `tools.ops.trading`, the alerting): `stop_bot` stops the event's bot (or the rule's
`bot_id` parameter), `block_symbol` moves the symbol to REDUCING (only reductions pass: no new entries)
for the rule's `minutes`, after which the risk monitor's tick lifts it (`aegis resume --symbol` sooner),
`set_trading_state` moves the account to the rule's state (`reducing`: only reductions pass; `halted`: the
kill switch, open orders cancelled), `set_posture` overrides the posture (`tools.ops.posture`) for the rule's
`minutes` (none: until an operator clears it), `alert` raises an alert at the rule's level, `proceed` and
`skip` change nothing. An action a flow does not perform (not in its `supported` set) is recorded and
alerted as not performed, never silently dropped. The alerts carry the event's chain (`cause`), so
`aegis trace` shows them under it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from graphs.deliberation.state import Settlement
from graphs.operations import OpsServices
from quant.posture import posture_named
from state.alerts import AlertLevel
from state.decisions import Outcome
from state.events import Cause, Event
from state.rules import Action, ActionKind, RuleBook, RuleOutcome, event_facts

ACTOR = "rules"
NOT_PERFORMED = "not performed"
CHANGES_NOTHING = frozenset({ActionKind.PROCEED, ActionKind.SKIP})


@dataclass
class Performed:
    """What the matched rules' actions did (`done`) and what was not done, with why (`not_done`)."""

    done: list[str] = field(default_factory=list)
    not_done: list[str] = field(default_factory=list)
    cause: Cause | None = None  # the event the actions answer (its alerts carry it)


@dataclass(frozen=True, slots=True)
class RuleActions:
    ops: OpsServices
    flow: str
    supported: frozenset[ActionKind]

    async def answer(
        self, event: Event, *, bot_id: str, symbol: str | None, extra: Mapping[str, Any] | None = None
    ) -> tuple[list[RuleOutcome], Performed]:
        """Judge `event` by the current rules of its type (with `extra` facts) and perform what matched; the
        alerts carry the event's chain."""
        book = RuleBook(rules=tuple(await self.ops.rules.rules()))
        outcomes = book.evaluate(event.type, event_facts(event, extra))
        performed = await self.perform(
            book, outcomes, event_id=event.id, bot_id=bot_id, symbol=symbol, cause=Cause.of_event(event)
        )
        return outcomes, performed

    async def perform(
        self,
        book: RuleBook,
        outcomes: Sequence[RuleOutcome],
        *,
        event_id: str,
        bot_id: str,
        symbol: str | None,
        cause: Cause | None = None,
    ) -> Performed:
        """Perform the actions of every matched outcome, in order (`cause`: the event's, for the alerts)."""
        descriptions = {rule.rule_id: rule.description for rule in book.rules}
        result = Performed(cause=cause)
        for outcome in outcomes:
            if outcome.status != "matched":
                continue
            why = f"rule {outcome.rule_id} v{outcome.version}: {descriptions.get(outcome.rule_id, '')}"
            for action in outcome.actions:
                await self._one(action, why, event_id, bot_id, symbol, result)
        return result

    async def _one(
        self, action: Action, why: str, event_id: str, bot_id: str, symbol: str | None, result: Performed
    ) -> None:
        if action.kind in CHANGES_NOTHING:
            return
        if action.kind not in self.supported:
            await self._not_done(f"action {action.kind} of {why}: the {self.flow} flow does not perform it", event_id,
                                 result)  # fmt: skip
            return
        if action.kind is ActionKind.STOP_BOT:
            target = str(action.params.get("bot_id", bot_id))
            bots = {bot.bot_id: bot for bot in await self.ops.bots.bots()}
            if target not in bots:
                await self._not_done(f"no bot {target} to stop ({why})", event_id, result)
            elif bots[target].running:
                await self.ops.bots.stop(target, actor=ACTOR, reason=why)
                result.done.append(f"stopped {target} ({why})")
        elif action.kind is ActionKind.BLOCK_SYMBOL:
            target_symbol = str(action.params.get("symbol", symbol or ""))
            if not target_symbol:
                await self._not_done(f"no symbol to block ({why})", event_id, result)
                return
            minutes = float(action.params.get("minutes", 0))
            until = self.ops.clock.now() + timedelta(minutes=minutes) if minutes > 0 else None
            ends = f"until {until.isoformat()}" if until is not None else "until an operator resumes it"
            await self.ops.trading.reduce(reason=why, actor=ACTOR, scope=target_symbol, until=until)
            result.done.append(f"new entries in {target_symbol} blocked {ends} ({why})")
        elif action.kind is ActionKind.SET_TRADING_STATE:
            state = str(action.params["state"])
            if state == "halted":
                await self.ops.trading.halt(reason=why, actor=ACTOR)
            else:
                await self.ops.trading.reduce(reason=why, actor=ACTOR)
            result.done.append(f"account {state} ({why})")
        elif action.kind is ActionKind.SET_POSTURE:
            if self.ops.posture is None:
                await self._not_done(f"no posture control to set the posture ({why})", event_id, result)
                return
            try:
                posture = posture_named(str(action.params["posture"]))
            except ValueError as exc:
                await self._not_done(f"{exc} ({why})", event_id, result)
                return
            minutes = float(action.params.get("minutes", 0))
            until = self.ops.clock.now() + timedelta(minutes=minutes) if minutes > 0 else None
            await self.ops.posture.override(posture, reason=why, actor=ACTOR, until=until)
            ends = f"until {until.isoformat()}" if until is not None else "until an operator clears it"
            result.done.append(f"posture {posture} {ends} ({why})")
        elif action.kind is ActionKind.ALERT:
            level = AlertLevel(str(action.params["level"]))
            await self.ops.raise_alert(
                level, self.flow, f"{why} (event {event_id})", dedup_key=f"{self.flow}:{event_id}:{why}",
                cause=result.cause,
            )  # fmt: skip
            result.done.append(f"{level} alert")

    async def settle(
        self,
        event_id: str,
        subject: str,
        outcomes: Sequence[RuleOutcome],
        performed: Performed,
        found: Mapping[str, Any],
    ) -> dict[str, Any]:
        """The update of a flow that only performs its rules: APPLIED when an action was done, else SKIPPED
        saying what was not done; a rule that could not be judged raises a WARNING alert."""
        failed = [o.reason for o in outcomes if o.status == "failed"]
        if failed:
            await self.ops.raise_alert(AlertLevel.WARNING, "rule_failed", "; ".join(failed),
                                       dedup_key=f"rule_failed:{event_id}", cause=performed.cause)  # fmt: skip
        findings = {**found, "rules": [o.model_dump(mode="json") for o in outcomes], "done": performed.done,
                    "not_done": performed.not_done}  # fmt: skip
        if performed.done:
            return {
                "findings": findings,
                "settled": Settlement(Outcome.APPLIED, f"{subject}: {'; '.join(performed.done)}"),
            }
        notes = "; ".join([*failed, *performed.not_done])
        reason = f"{subject}: no rule acts on it" + (f" ({notes})" if notes else "")
        return {"findings": findings, "settled": Settlement(Outcome.SKIPPED, reason)}

    async def _not_done(self, message: str, event_id: str, result: Performed) -> None:
        result.not_done.append(f"{NOT_PERFORMED}: {message}")
        await self.ops.raise_alert(
            AlertLevel.WARNING,
            "rule_action_not_performed",
            message,
            dedup_key=f"not_performed:{event_id}:{message}",
            cause=result.cause,
        )
