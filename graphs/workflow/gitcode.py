"""GitCode: runs an approved plan's steps in dependency order, independent ones at once, and records each.

A step starts when every step it depends on has succeeded (the steps ready together start together, in
Lubit's priority order); a step whose dependency did not succeed is skipped, saying which. A transient
failure (`TransientToolError`: a store or provider unavailable) is retried, at most `attempts` tries with a
doubling wait; any other failure ends the step at once. A step that changes something runs only with the
approval it needs (checked here again: the approval node is not the only guard). Deterministic: no model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from agents.sena import Plan, PlanStep
from graphs.workflow.state import StepResult
from state.clock import Clock
from tools.registry.spec import Caller, ToolError, ToolRegistry, TransientToolError

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Execution:
    registry: ToolRegistry
    clock: Clock
    attempts: int = 3
    backoff_s: float = 0.2
    sleep: Sleep = asyncio.sleep


async def run_plan(
    plan: Plan,
    execution: Execution,
    caller: Caller,
    *,
    approved: bool,
    priorities: Mapping[str, int] | None = None,
) -> dict[str, StepResult]:
    """Every step's result, by step id, in the order the steps finished."""
    priority = {step.id: (priorities or {}).get(step.id, 100 + index) for index, step in enumerate(plan.steps)}
    waiting = {step.id: step for step in plan.steps}
    results: dict[str, StepResult] = {}
    while waiting:
        ready, blocked = [], []
        for step in sorted(waiting.values(), key=lambda s: priority[s.id]):
            states = [results[d].status if d in results else None for d in step.depends_on]
            if all(state == "ok" for state in states):
                ready.append(step)
            elif any(state is not None and state != "ok" for state in states):
                blocked.append(step)
        for step in blocked:
            failed = [d for d in step.depends_on if d in results and results[d].status != "ok"]
            results[step.id] = _skipped(step, f"skipped: it depends on {', '.join(failed)}, which did not succeed")
            del waiting[step.id]
        if not ready:
            if blocked:
                continue
            for step in waiting.values():  # only a dependency cycle leaves steps neither ready nor blocked
                results[step.id] = _skipped(step, "skipped: its dependencies form a cycle")
            break
        for step in ready:
            del waiting[step.id]
        for result in await asyncio.gather(*(_run_step(step, execution, caller, approved) for step in ready)):
            results[result.step] = result
    return results


def _skipped(step: PlanStep, why: str) -> StepResult:
    return StepResult(step=step.id, tool=step.tool, status="skipped", error=why)


async def _run_step(step: PlanStep, execution: Execution, caller: Caller, approved: bool) -> StepResult:
    started = execution.clock.now()
    try:
        tool = execution.registry.get(step.tool)
        args = tool.spec.parse(step.args)
    except ToolError as exc:
        return StepResult(step=step.id, tool=step.tool, status="refused", error=str(exc), started_at=started,
                          ended_at=execution.clock.now())  # fmt: skip
    if tool.spec.needs_approval and not approved:
        why = f"{step.tool} changes {tool.spec.changes} and the plan has no approval: not run"
        return StepResult(step=step.id, tool=step.tool, status="refused", error=why, mutates=True,
                          started_at=started, ended_at=execution.clock.now())  # fmt: skip
    attempt, wait = 0, execution.backoff_s
    while True:
        attempt += 1
        try:
            result = await tool.handler(args, caller)
        except TransientToolError as exc:
            if attempt >= execution.attempts:
                return _failed(step, tool.spec.mutates, attempt, f"failed {attempt} times, last: {exc}", started,
                               execution)  # fmt: skip
            await execution.sleep(wait)
            wait *= 2
            continue
        except Exception as exc:  # a tool's refusal or bug ends the step, recorded; it never stops the plan
            return _failed(step, tool.spec.mutates, attempt, f"{type(exc).__name__}: {exc}", started, execution)
        return StepResult(
            step=step.id,
            tool=step.tool,
            status="ok",
            attempts=attempt,
            summary=result.summary,
            data=result.data,
            cites=list(result.cites),
            mutates=tool.spec.mutates,
            started_at=started,
            ended_at=execution.clock.now(),
        )


def _failed(
    step: PlanStep, mutates: bool, attempts: int, error: str, started: datetime, execution: Execution
) -> StepResult:
    return StepResult(step=step.id, tool=step.tool, status="failed", attempts=attempts, error=error, mutates=mutates,
                      started_at=started, ended_at=execution.clock.now())  # fmt: skip
