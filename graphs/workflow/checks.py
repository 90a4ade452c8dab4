"""Lubit's deterministic checks of a plan: what no model may overrule.

Each step must name a registry tool, with arguments its schema accepts, needing no more than the requester's
role (for these arguments: loosening a limit needs admin), and the dependencies must form no cycle. A problem
Sena can fix (an unknown tool, a bad argument, a cycle) asks for a revision; a step beyond the requester's role
rejects the plan, whatever the request's text said, and so does a plan that serves nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from agents.sena import Plan, PlanStep
from graphs.workflow.state import PlanChecks, Problem
from state.access import Access
from tools.registry.spec import ToolError, ToolRegistry


async def check_plan(plan: Plan, registry: ToolRegistry, role: Access) -> PlanChecks:
    problems: list[Problem] = []
    step_access: dict[str, Access] = {}
    needs_approval = False
    if not plan.steps:
        problems.append(Problem(check="plan", message=f"nothing to run: {plan.unsupported}", fixable=False))
    for step in plan.steps:
        if step.tool not in registry:
            known = ", ".join(registry.names())
            problems.append(Problem(check="tool", step=step.id, message=f"{step.id}: no tool {step.tool!r} ({known})"))
            continue
        tool = registry.get(step.tool)
        try:
            args = tool.spec.parse(step.args)
        except ToolError as exc:
            problems.append(Problem(check="arguments", step=step.id, message=f"{step.id}: {exc}"))
            continue
        needed = await tool.access_for(args)
        step_access[step.id] = needed
        needs_approval = needs_approval or tool.spec.needs_approval
        if not role.allows(needed):
            message = f"{step.id}: {step.tool} needs the {needed} role; the requester has {role}"
            problems.append(Problem(check="authority", step=step.id, message=message, fixable=False))
    cycle = _cycle(plan.steps)
    if cycle:
        problems.append(Problem(check="dependencies", message=f"the steps depend on each other in a cycle: {cycle}"))
    verdict = "approve" if not problems else "reject" if any(not p.fixable for p in problems) else "revise"
    approver = max(step_access.values(), key=lambda access: access.rank, default=Access.TRADE)
    return PlanChecks(
        verdict=verdict,
        problems=problems,
        needs_approval=needs_approval,
        approver_role=approver if approver.rank >= Access.TRADE.rank else Access.TRADE,
        step_access=step_access,
    )


def _cycle(steps: list[PlanStep]) -> str | None:
    """A dependency cycle among the steps, as "a -> b -> a", or None."""
    depends: Mapping[str, list[str]] = {step.id: step.depends_on for step in steps}
    done: set[str] = set()

    def visit(step_id: str, path: list[str]) -> str | None:
        if step_id in path:
            return " -> ".join([*path[path.index(step_id) :], step_id])
        if step_id in done:
            return None
        for dependency in depends.get(step_id, []):
            found = visit(dependency, [*path, step_id])
            if found:
                return found
        done.add(step_id)
        return None

    for step in steps:
        found = visit(step.id, [])
        if found:
            return found
    return None
