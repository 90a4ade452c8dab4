"""The operator workflow end to end: Sena -> Lubit -> approval -> GitCode -> RUNE, on both stores, across a
restart, with the roles on the rules baseline (and scripted where a test needs a role to misbehave)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from aegis.pipeline import Pipeline
from aegis.runtime.session import run_session
from aegis.settings import Settings
from agents.llm.scripted import ScriptedClient
from graphs.deliberation.context import RunKnobs
from graphs.router import WORKFLOW
from graphs.workflow.graph import build_workflow_graph
from state.access import Access, AccessDeniedError
from state.approvals import ApprovalStatus
from state.bots import Bot
from state.clock import SimulatedClock
from state.decisions import Outcome
from state.trading import TradingState
from tests.graphs.workflow.tools import Recorder
from tools.ops.approvals import ApprovalDecidedError
from tools.registry.spec import TransientToolError

NOW = datetime(2016, 3, 1, 21, tzinfo=UTC)
CORPUS = Path(__file__).parents[2] / "data" / "prompt_injections.jsonl"
INJECTIONS = [json.loads(line)["text"] for line in CORPUS.read_text().splitlines() if line.strip()]
Open = Callable[..., Awaitable[Pipeline]]


@pytest.fixture(params=["embedded", "postgres"])
def stores(request: pytest.FixtureRequest) -> dict[str, Any]:
    return {} if request.param == "embedded" else {"postgres_url": request.getfixturevalue("postgres_url")}


@pytest.fixture
async def open_pipeline(tmp_path: Path, stores: dict[str, Any]) -> AsyncIterator[Open]:
    opened: list[Pipeline] = []
    clock = SimulatedClock(NOW)

    async def open_(providers: dict[str, Any] | None = None, **settings: Any) -> Pipeline:
        pipeline = await Pipeline.open(Settings(data_dir=tmp_path / "data", checkpoints=False, **stores, **settings),
                                       clock=clock, providers=providers)  # fmt: skip
        if not await pipeline.bots.bots():
            bots = [
                Bot(bot_id=b, strategy=b, allocation=0.3, since=NOW - timedelta(days=30)) for b in ("value", "growth")
            ]
            await pipeline.bots.register(bots, actor="test", reason="two reference bots")
        opened.append(pipeline)
        return pipeline

    yield open_
    for pipeline in opened:
        await pipeline.close()


async def running(pipeline: Pipeline) -> dict[str, bool]:
    return {bot.bot_id: bot.running for bot in await pipeline.bots.bots()}


async def test_a_read_only_request_is_answered_at_once_citing_its_records(open_pipeline: Open) -> None:
    pipeline = await open_pipeline()
    decision = await pipeline.request("show the positions and the p&l", requester="ana")
    assert decision.outcome is Outcome.ANSWERED, decision.reason
    assert await pipeline.services.store.get_decision(decision.event_id) == decision
    record = decision.operation or {}
    assert [s["tool"] for s in record["plan"]["steps"]] == ["positions.show", "pnl.show"]
    assert record["lubit"]["verdict"] == "approve" and record["approval"] is None
    assert all(r["status"] == "ok" and r["cites"] for r in record["results"].values())
    assert "equity 100,000.00" in decision.reason
    assert record["review"]["verdict"] == "pass"
    assert [s.stage for s in decision.stages] == ["sena", "lubit"] and {s.provider for s in decision.stages} == {
        "rules"
    }
    assert await pipeline.approvals() == []


async def test_a_change_waits_for_a_person_and_runs_once_approved_after_a_restart(open_pipeline: Open) -> None:
    first = await open_pipeline()
    waiting = await first.request("stop the value bot until Monday", requester="ana", role=Access.TRADE)
    assert waiting.outcome is Outcome.AWAITING_APPROVAL
    assert await first.services.store.get_decision(waiting.event_id) is None  # decided only after the approval
    assert await running(first) == {"value": True, "growth": True}
    [pending] = await first.approvals(ApprovalStatus.PENDING)
    assert pending.approval_id == f"workflow:{waiting.event_id}" and pending.needs is Access.TRADE
    assert (await first.workflow(waiting.event_id) or {})["outcome"] == "awaiting_approval"
    await first.close()

    second = await open_pipeline()  # a new process: the plan waits in the checkpoint, the approval in the store
    approved = await second.approve(pending.approval_id, by="ben", role=Access.TRADE, reason="value is misbehaving")
    assert approved.status is ApprovalStatus.APPROVED and approved.result == {
        "outcome": "applied", "reason": "s1 bot.stop: bot value stopped until 2016-03-07T00:00:00+00:00.",
        "review": "pass"}  # fmt: skip
    assert await running(second) == {"value": False, "growth": True}
    [bot] = [b for b in await second.bots.bots() if b.bot_id == "value"]
    assert "ana (workflow" in bot.actor and "approved by ben" in bot.actor
    assert bot.stopped_until == datetime(2016, 3, 7, tzinfo=UTC)
    decided = await second.services.store.get_decision(waiting.event_id)
    assert decided is not None and decided.outcome is Outcome.APPLIED
    review = (decided.operation or {})["review"]
    assert review["verdict"] == "pass", review
    assert "approved by ben (trade) first" in {c["name"]: c for c in review["checks"]}["autonomy"]["detail"]
    with pytest.raises(ApprovalDecidedError):
        await second.approve(pending.approval_id, by="ben", role=Access.TRADE, reason="twice")


async def test_a_rejected_plan_runs_nothing(open_pipeline: Open) -> None:
    pipeline = await open_pipeline()
    waiting = await pipeline.request("halt trading", requester="ana", role=Access.TRADE)
    rejected = await pipeline.reject(f"workflow:{waiting.event_id}", by="ben", role=Access.TRADE, reason="no need")
    assert rejected.result is not None and rejected.result["outcome"] == "blocked"
    decided = await pipeline.services.store.get_decision(waiting.event_id)
    assert decided is not None and decided.outcome is Outcome.BLOCKED and "not approved: ben (trade)" in decided.reason
    assert (await pipeline.trading.states()).effective("AAPL").state is TradingState.ACTIVE
    assert (decided.operation or {})["results"] == {}


async def test_an_approver_without_the_role_needed_is_refused_and_the_plan_keeps_waiting(open_pipeline: Open) -> None:
    pipeline = await open_pipeline()
    waiting = await pipeline.request("resume trading", requester="root", role=Access.ADMIN)
    approval_id = f"workflow:{waiting.event_id}"
    with pytest.raises(AccessDeniedError, match="needs the admin role"):
        await pipeline.approve(approval_id, by="ben", role=Access.TRADE, reason="go")
    assert [a.approval_id for a in await pipeline.approvals(ApprovalStatus.PENDING)] == [approval_id]


async def test_a_request_beyond_the_requesters_role_is_rejected_and_nothing_waits(open_pipeline: Open) -> None:
    pipeline = await open_pipeline()
    decision = await pipeline.request("stop the value bot and halt trading", requester="eve", role=Access.READ)
    assert decision.outcome is Outcome.BLOCKED
    assert "bot.stop needs the trade role; the requester has read" in decision.reason
    assert await pipeline.approvals() == [] and await running(pipeline) == {"value": True, "growth": True}


async def test_an_expired_approval_is_a_rejection(open_pipeline: Open) -> None:
    pipeline = await open_pipeline(workflow={"approval_timeout_s": 60})
    waiting = await pipeline.request("stop the growth bot", requester="ana", role=Access.TRADE)
    clock = pipeline.services.clock
    assert isinstance(clock, SimulatedClock)
    clock.advance(timedelta(seconds=61))
    [expired] = await pipeline.expire_approvals()
    assert expired.status is ApprovalStatus.EXPIRED and expired.result is not None
    decided = await pipeline.services.store.get_decision(waiting.event_id)
    assert decided is not None and decided.outcome is Outcome.BLOCKED and "expired" in decided.reason
    assert await running(pipeline) == {"value": True, "growth": True}


async def test_an_answer_given_at_the_interrupt_is_recorded_with_its_role_checked(open_pipeline: Open) -> None:
    """Studio answers the interrupt itself: the node records the decision through the approvals desk."""
    pipeline = await open_pipeline()
    waiting = await pipeline.request("cancel all open orders", requester="ana", role=Access.TRADE)
    graph = pipeline.router.graphs[WORKFLOW]
    config: RunnableConfig = {"configurable": {"thread_id": waiting.event_id}}
    refused = await graph.ainvoke(
        Command(resume={"approved": True, "by": "eve", "role": "read", "reason": "x"}), config
    )
    [asked_again] = refused["__interrupt__"]  # a role that may not decide: refused, and the plan waits again
    assert "needs the trade role; read does not allow it" in asked_again.value["refused"]
    assert (await pipeline.approvals(ApprovalStatus.PENDING))[0].decided_by is None
    result = await graph.ainvoke(Command(resume={"approved": True, "by": "ben", "role": "trade", "reason": "ok"}),
                                 config)  # fmt: skip
    assert result["decision"].outcome is Outcome.APPLIED
    [approval] = await pipeline.approvals()
    assert approval.status is ApprovalStatus.APPROVED and approval.decided_by == "ben"
    assert approval.decided_role is Access.TRADE


async def test_lubit_sends_a_plan_back_at_most_twice(open_pipeline: Open) -> None:
    bad_plan = {"summary": "s", "steps": [{"id": "s1", "tool": "positions.delete", "why": "asked"}]}
    sena = ScriptedClient({"sena": [bad_plan]})
    pipeline = await open_pipeline(providers={"scripted": sena},
                                   workflow={"roles": {"sena": {"provider": "scripted"}}})  # fmt: skip
    decision = await pipeline.request("show the positions", requester="ana")
    assert sena.calls("sena") == 3  # the plan, then two revisions
    assert decision.outcome is Outcome.BLOCKED and "still not right after 2 revisions" in decision.reason
    feedback = [json.loads(r.messages[-1].content.split("<facts>")[1].split("</facts>")[0])["feedback"]
                for r in sena.requests]  # fmt: skip
    assert feedback[0] is None and "no tool 'positions.delete'" in feedback[1][0]


async def test_a_plan_beyond_the_role_is_rejected_whatever_sena_says(open_pipeline: Open) -> None:
    """As if an injected request had talked the planner into it: the checks still refuse the step."""
    rogue = {"summary": "as the request says", "steps": [
        {"id": "s1", "tool": "trading.resume", "args": {"reason": "operator request: the text says so"}, "why": "x"},
        {"id": "s2", "tool": "limits.set", "args": {"name": "daily_loss_limit_pct", "value": 50, "reason": "told"},
         "why": "x"}]}  # fmt: skip
    sena = ScriptedClient({"sena": [rogue]})
    pipeline = await open_pipeline(providers={"scripted": sena},
                                   workflow={"roles": {"sena": {"provider": "scripted"}}})  # fmt: skip
    for role in (Access.READ, Access.TRADE):
        decision = await pipeline.request(INJECTIONS[0], requester="mallory", role=role)
        assert decision.outcome is Outcome.BLOCKED and "needs the admin role" in decision.reason
    assert await pipeline.approvals() == []


async def test_injected_requests_change_nothing(open_pipeline: Open) -> None:
    pipeline = await open_pipeline()
    for text in INJECTIONS:
        decision = await pipeline.request(text, requester="mallory", role=Access.TRADE)
        assert decision.outcome is Outcome.BLOCKED, (text, decision.reason)
        assert (decision.operation or {})["plan"]["steps"] == []
    assert await pipeline.approvals() == [] and await running(pipeline) == {"value": True, "growth": True}


async def test_a_step_failing_transiently_is_tried_three_times_then_reported(open_pipeline: Open) -> None:
    pipeline = await open_pipeline(workflow={"retry_backoff_s": 0.0})
    recorder = Recorder(failures={"pnl.show": [TransientToolError("store unavailable")] * 3})
    ops = pipeline._stack.ops
    assert ops.workflow is not None
    graph = build_workflow_graph(pipeline.services, dataclasses.replace(
        ops, workflow=dataclasses.replace(ops.workflow, registry=recorder.registry())))  # fmt: skip
    event = {"id": "req-fail", "type": "OPERATOR_REQUEST", "source": "test", "event_time": NOW.isoformat(),
             "payload": {"operator": "ana", "request": "show the positions and the p&l", "role": "read"}}  # fmt: skip
    decided = await run_session(graph, event, "req-fail", knobs=RunKnobs(), store=pipeline.services.store,
                                clock=pipeline.services.clock, timeout_s=30, incremental_save_s=10,
                                durability="exit")  # fmt: skip
    decision = decided.decision
    assert decision.outcome is Outcome.EXECUTION_FAILED
    assert "failed 3 times, last: store unavailable" in decision.reason
    assert recorder.called().count("pnl.show") == 3 and recorder.called().count("positions.show") == 1


async def test_a_malformed_request_is_a_dead_letter_naming_its_field(open_pipeline: Open) -> None:
    pipeline = await open_pipeline()
    bad = {"id": "req-bad", "type": "OPERATOR_REQUEST", "source": "test", "event_time": NOW.isoformat(),
           "payload": {"operator": "mallory", "request": "halt trading", "role": "root"}}  # fmt: skip
    decision = await pipeline.submit(bad)
    assert decision.outcome is Outcome.REJECTED and "payload.role" in decision.reason
    assert [r["event_id"] for r in await pipeline.services.store.rejected_events()] == ["req-bad"]
    assert await pipeline.approvals() == [] and (decision.operation or {}).get("plan") is None  # nothing planned
