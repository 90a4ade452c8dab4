"""The rules control: the one writer of the rules engine's rules (added, changed, enabled, disabled).

Every change goes through `RuleControl`, which writes the rule as its next version with an audit entry in
one transaction (`DurableStore.save_rule`) and then mirrors the rules to the hot store, where the flows read
them. The CLI (`aegis rules`), the Python API (`pipeline.rules`) and, later, the REST API and the workflow
call these methods.

Decisions that must not be silently changed:
- A rule is validated whole before anything is written (`state.rules.Rule`): unknown fields, operators or
  actions, a list where one value is expected, an action without its parameters are refused with the reason.
- Records that hold no rules get the default rules (`state.rules.default_rules`, their thresholds from
  the settings) when the stack opens;
  a default rule an operator changed or disabled stays as the operator left it.
- Every change names an actor and a reason; the version goes up by one each time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from state.clock import Clock
from state.context_loader import RULES_KEY
from state.rules import DEFAULT_RULES, Rule, RuleBook
from state.store.base import AuditEntry, DurableStore
from state.tiered_hot import TieredHot

CHANGEABLE = ("description", "priority", "enabled", "conditions", "actions")


class UnknownRuleError(ValueError):
    """An operation named a rule that does not exist."""


class InvalidRuleError(ValueError):
    """A rule (or a change to one) that does not validate; the message names what is wrong."""


class RuleControl:
    def __init__(self, store: DurableStore, hot: TieredHot, clock: Clock) -> None:
        self._store = store
        self._hot = hot
        self._clock = clock

    async def rules(self) -> list[Rule]:
        """The durable rules (the truth), in evaluation order."""
        return await self._store.rules()

    async def get(self, rule_id: str) -> Rule:
        for rule in await self.rules():
            if rule.rule_id == rule_id:
                return rule
        raise UnknownRuleError(f"no rule {rule_id!r} (aegis rules list shows them)")

    async def history(self, rule_id: str) -> list[Rule]:
        await self.get(rule_id)
        return await self._store.rule_versions(rule_id)

    async def publish(self) -> RuleBook:
        """Mirror the durable rules to the hot store (at start: a hot store that lost them learns them)."""
        book = RuleBook(rules=tuple(await self.rules()))
        await self._hot.set_value(RULES_KEY, book.model_dump(mode="json"))
        return book

    async def ensure_defaults(self, defaults: Sequence[Rule] = DEFAULT_RULES) -> list[Rule]:
        """Write the default rules on records that hold no rule at all; returns those written."""
        if await self.rules():
            return []
        written = [await self._write(rule, actor="system", reason="default rule", action="rule_added")
                   for rule in defaults]  # fmt: skip
        await self.publish()
        return written

    async def add(self, definition: Mapping[str, Any], *, actor: str, reason: str) -> Rule:
        """Add a new rule from its definition (a mapping as in a YAML or JSON file)."""
        _check_who(actor, reason)
        rule = _validated({**definition, "version": 1})
        if any(r.rule_id == rule.rule_id for r in await self.rules()):
            raise InvalidRuleError(f"rule {rule.rule_id!r} exists already: change it with `aegis rules set`")
        written = await self._write(rule, actor=actor, reason=reason, action="rule_added")
        await self.publish()
        return written

    async def change(self, rule_id: str, changes: Mapping[str, Any], *, actor: str, reason: str) -> Rule:
        """Change a rule's description, priority, enabled flag, conditions or actions (its next version)."""
        _check_who(actor, reason)
        unknown = sorted(set(changes) - set(CHANGEABLE))
        if unknown:
            raise InvalidRuleError(f"cannot change {', '.join(unknown)} (changeable: {', '.join(CHANGEABLE)})")
        rule = await self.get(rule_id)
        changed = _validated({**rule.model_dump(mode="json"), **changes, "version": rule.version + 1})
        written = await self._write(changed, actor=actor, reason=reason, action="rule_changed")
        await self.publish()
        return written

    async def disable(self, rule_id: str, *, actor: str, reason: str) -> Rule:
        return await self.change(rule_id, {"enabled": False}, actor=actor, reason=reason)

    async def enable(self, rule_id: str, *, actor: str, reason: str) -> Rule:
        return await self.change(rule_id, {"enabled": True}, actor=actor, reason=reason)

    async def _write(self, rule: Rule, *, actor: str, reason: str, action: str) -> Rule:
        now = self._clock.now()
        stamped = rule.model_copy(update={"changed_by": actor, "changed_at": now})
        detail = {"rule_id": rule.rule_id, "version": rule.version, "reason": reason,
                  "rule": stamped.model_dump(mode="json")}  # fmt: skip
        await self._store.save_rule(stamped, AuditEntry(actor, action, detail), now)
        return stamped


def _validated(definition: Mapping[str, Any]) -> Rule:
    try:
        return Rule.model_validate(dict(definition))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'rule'}: {error['msg']}" for error in exc.errors()
        )
        raise InvalidRuleError(f"invalid rule: {problems}") from None


def _check_who(actor: str, reason: str) -> None:
    if not actor.strip() or not reason.strip():
        raise ValueError("a change to a rule needs an actor and a reason")
