"""GitCode: dependency order, independent steps at once, retries of transient failures, skipped dependents."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from agents.sena import Plan, PlanStep
from graphs.workflow.gitcode import Execution, run_plan
from state.access import Access
from state.clock import SimulatedClock
from tests.graphs.workflow.tools import Recorder
from tools.registry.spec import Caller, ToolError, TransientToolError

REASON = "operator request: test"
CALLER = Caller("ana", Access.TRADE, "req-1", approved_by="ben")


def plan(*steps: dict[str, Any]) -> Plan:
    return Plan(summary="test", steps=[PlanStep(**{"why": "asked", **s}) for s in steps])


async def run(recorder: Recorder, steps: Plan, *, approved: bool = True, **priorities: int) -> dict[str, Any]:
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    execution = Execution(recorder.registry(), SimulatedClock(datetime(2016, 3, 1, tzinfo=UTC)), 3, 0.2, no_wait)
    results = await run_plan(steps, execution, CALLER, approved=approved, priorities=priorities)
    return {"results": results, "waits": waits}


async def test_steps_run_after_what_they_depend_on_and_independent_ones_together() -> None:
    recorder = Recorder(delay_s=0.01)
    steps = plan(
        {"id": "c", "tool": "portfolio.rebalance", "args": {"profile": "conservative", "reason": REASON},
         "depends_on": ["a", "b"]},
        {"id": "a", "tool": "positions.show"},
        {"id": "b", "tool": "pnl.show"},
    )  # fmt: skip
    done = await run(recorder, steps)
    assert recorder.called()[-1] == "portfolio.rebalance" and set(recorder.called()[:2]) == {
        "positions.show",
        "pnl.show",
    }
    assert recorder.most_at_once == 2  # a and b ran at once
    assert all(r.status == "ok" and r.attempts == 1 for r in done["results"].values())
    assert recorder.calls[-1][2] == CALLER  # the handler knows on whose behalf it runs


async def test_priorities_order_the_steps_that_are_ready_together() -> None:
    recorder = Recorder()
    steps = plan({"id": "a", "tool": "positions.show"}, {"id": "b", "tool": "pnl.show"})
    await run(recorder, steps, a=2, b=1)
    assert recorder.called() == ["pnl.show", "positions.show"]


async def test_a_transient_failure_is_retried_at_most_three_times_with_a_doubling_wait() -> None:
    recorder = Recorder(failures={"pnl.show": [TransientToolError("store down")] * 2})
    done = await run(recorder, plan({"id": "a", "tool": "pnl.show"}))
    result = done["results"]["a"]
    assert result.status == "ok" and result.attempts == 3 and done["waits"] == [0.2, 0.4]

    recorder = Recorder(failures={"pnl.show": [TransientToolError("store down")] * 5})
    done = await run(recorder, plan({"id": "a", "tool": "pnl.show"}, {"id": "b", "tool": "positions.show",
                                                                        "depends_on": ["a"]}))  # fmt: skip
    failed, skipped = done["results"]["a"], done["results"]["b"]
    assert failed.status == "failed" and failed.attempts == 3 and "failed 3 times, last: store down" in failed.error
    assert recorder.called() == ["pnl.show"] * 3  # the dependent never ran
    assert skipped.status == "skipped" and "depends on a" in (skipped.error or "")


async def test_a_refusal_is_not_retried() -> None:
    recorder = Recorder(failures={"pnl.show": [ToolError("no such bot")]})
    done = await run(recorder, plan({"id": "a", "tool": "pnl.show"}))
    assert done["results"]["a"].status == "failed" and done["results"]["a"].attempts == 1 and not done["waits"]


async def test_a_change_never_runs_without_the_approval() -> None:
    recorder = Recorder()
    steps = plan({"id": "a", "tool": "orders.cancel", "args": {"reason": REASON}}, {"id": "b", "tool": "pnl.show"})
    done = await run(recorder, steps, approved=False)
    assert recorder.called() == ["pnl.show"]
    assert done["results"]["a"].status == "refused" and "no approval" in (done["results"]["a"].error or "")


async def test_invalid_arguments_are_refused_not_run() -> None:
    recorder = Recorder()
    done = await run(recorder, plan({"id": "a", "tool": "decisions.query", "args": {"limit": -1}}))
    assert done["results"]["a"].status == "refused" and not recorder.calls
