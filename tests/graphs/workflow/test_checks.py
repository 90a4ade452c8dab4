"""Lubit's deterministic checks: tools, arguments, authority, dependencies."""

from __future__ import annotations

from typing import Any

import pytest

from agents.sena import Plan, PlanStep
from graphs.workflow.checks import check_plan
from state.access import Access
from tests.graphs.workflow.tools import Recorder

REASON = "operator request: test"


def plan(*steps: dict[str, Any]) -> Plan:
    return Plan(summary="test", steps=[PlanStep(**{"why": "asked", **s}) for s in steps])


async def test_a_read_plan_within_the_role_is_approved_without_approval() -> None:
    checks = await check_plan(plan({"id": "s1", "tool": "positions.show"}), Recorder().registry(), Access.READ)
    assert checks.verdict == "approve" and not checks.problems
    assert not checks.needs_approval and checks.step_access == {"s1": Access.READ}


async def test_a_change_needs_approval_by_the_most_any_step_needs() -> None:
    steps = plan(
        {"id": "s1", "tool": "bot.stop", "args": {"bot_id": "value", "reason": REASON}},
        {"id": "s2", "tool": "trading.resume", "args": {"reason": REASON}},
    )
    checks = await check_plan(steps, Recorder().registry(), Access.ADMIN)
    assert checks.verdict == "approve" and checks.needs_approval
    assert checks.approver_role is Access.ADMIN


@pytest.mark.parametrize(
    ("role", "tool", "args"),
    [
        (Access.READ, "bot.stop", {"bot_id": "value", "reason": REASON}),
        (Access.READ, "orders.cancel", {"reason": REASON}),
        (Access.TRADE, "trading.resume", {"reason": REASON}),
    ],
)
async def test_a_step_beyond_the_role_rejects_the_plan(role: Access, tool: str, args: dict[str, Any]) -> None:
    checks = await check_plan(plan({"id": "s1", "tool": tool, "args": args}), Recorder().registry(), role)
    assert checks.verdict == "reject"
    [problem] = checks.problems
    assert problem.check == "authority" and not problem.fixable and f"the requester has {role}" in problem.message


async def test_unknown_tools_and_bad_arguments_ask_for_a_revision() -> None:
    steps = plan(
        {"id": "s1", "tool": "positions.delete"},
        {"id": "s2", "tool": "decisions.query", "args": {"limit": 0}},
        {"id": "s3", "tool": "decisions.explain", "args": {}},
    )
    checks = await check_plan(steps, Recorder().registry(), Access.ADMIN)
    assert checks.verdict == "revise"
    assert [p.check for p in checks.problems] == ["tool", "arguments", "arguments"]
    assert "no tool 'positions.delete'" in checks.problems[0].message
    assert "limit" in checks.problems[1].message and "event_id, or symbol and day" in checks.problems[2].message


async def test_a_dependency_cycle_asks_for_a_revision() -> None:
    steps = plan(
        {"id": "a", "tool": "pnl.show", "depends_on": ["b"]},
        {"id": "b", "tool": "positions.show", "depends_on": ["a"]},
    )
    checks = await check_plan(steps, Recorder().registry(), Access.READ)
    assert checks.verdict == "revise" and "a -> b -> a" in checks.problems[0].message


async def test_a_plan_without_steps_is_rejected_with_senas_reason() -> None:
    checks = await check_plan(Plan(summary="x", unsupported="no tool answers the weather"), Recorder().registry(),
                              Access.ADMIN)  # fmt: skip
    assert checks.verdict == "reject" and "the weather" in checks.problems[0].message
