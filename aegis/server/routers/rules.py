"""The rules engine's rules: list them (evaluation order), read one with every version, and change them (admin
role): add, change (its next version), disable, enable. `RuleControl` validates each change whole, writes it
as the rule's next version and audits it with the caller, as `aegis rules` does.

Why admin for every write: a rule decides the automatic answers to anomalies, breakers and health reports
(stop a bot, halt, set the posture, proceed). A new or changed rule can weaken a protection as easily as add
one, and the control cannot tell which, so writing rules is an administrator's change (loosening is admin's).
An unknown rule is 404; a rule that does not validate is 422 naming what is wrong.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from pydantic import Field, model_validator

from aegis.server.auth import Admin, Context, Reader
from aegis.server.requests import Reason, ReasonBody, Strict
from state.rules import Rule
from tools.ops.rules import UnknownRuleError

router = APIRouter(prefix="/api/rules", tags=["rules"])


class AddRule(Strict):
    rule: Annotated[
        dict[str, Any],
        Field(description="rule_id, description, event_type, conditions, actions, priority, enabled (as the YAML)"),
    ]
    reason: Reason


class ChangeRule(Strict):
    description: str | None = Field(None, max_length=500)
    priority: int | None = Field(None, description="0..1000, higher runs first")
    conditions: list[dict[str, Any]] | None = Field(None, description='[{"field": ..., "op": ..., "value": ...}]')
    actions: list[dict[str, Any]] | None = Field(None, description='[{"kind": ..., "params": {...}}]')
    reason: Reason

    @model_validator(mode="after")
    def _changes_something(self) -> ChangeRule:
        if not self.changes:
            raise ValueError("nothing to change: give description, priority, conditions or actions")
        return self

    @property
    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude={"reason"}, exclude_none=True)


def _rule(rule: Rule) -> dict[str, Any]:
    return rule.model_dump(mode="json")


@router.get("", summary="Every rule, in evaluation order (priority, higher first), with its version and state")
async def list_rules(context: Context, principal: Reader) -> dict[str, Any]:
    return {"rules": [_rule(rule) for rule in await context.pipeline.rules.rules()]}


@router.get("/{rule_id}", summary="One rule and every version it had (who changed it, when)")
async def get_rule(rule_id: str, context: Context, principal: Reader) -> dict[str, Any]:
    try:
        versions = await context.pipeline.rules.history(rule_id)
    except UnknownRuleError as exc:
        raise HTTPException(404, str(exc)) from None
    return {"rule": _rule(versions[-1]), "versions": [_rule(rule) for rule in versions]}


@router.post("", status_code=201, summary="Add a rule (admin role): validated whole, version 1, audited")
async def add_rule(body: AddRule, context: Context, principal: Admin) -> dict[str, Any]:
    rule = await context.pipeline.rules.add(body.rule, actor=principal.actor, reason=body.reason)
    return {"rule": _rule(rule)}


@router.patch("/{rule_id}", summary="Change a rule (admin role): its next version, validated whole, audited")
async def change_rule(rule_id: str, body: ChangeRule, context: Context, principal: Admin) -> dict[str, Any]:
    try:
        rule = await context.pipeline.rules.change(rule_id, body.changes, actor=principal.actor, reason=body.reason)
    except UnknownRuleError as exc:
        raise HTTPException(404, str(exc)) from None
    return {"rule": _rule(rule)}


@router.post("/{rule_id}/disable", summary="Disable a rule (admin role): kept and listed, skipped by the engine")
async def disable_rule(rule_id: str, body: ReasonBody, context: Context, principal: Admin) -> dict[str, Any]:
    try:
        rule = await context.pipeline.rules.disable(rule_id, actor=principal.actor, reason=body.reason)
    except UnknownRuleError as exc:
        raise HTTPException(404, str(exc)) from None
    return {"rule": _rule(rule)}


@router.post("/{rule_id}/enable", summary="Enable a disabled rule (admin role)")
async def enable_rule(rule_id: str, body: ReasonBody, context: Context, principal: Admin) -> dict[str, Any]:
    try:
        rule = await context.pipeline.rules.enable(rule_id, actor=principal.actor, reason=body.reason)
    except UnknownRuleError as exc:
        raise HTTPException(404, str(exc)) from None
    return {"rule": _rule(rule)}
