"""The LLM budgets: past the per-decision or daily budget a role fails closed without a call, and an
alert is written."""

from __future__ import annotations

from collections.abc import Mapping

from agents.llm.scripted import Scripted, ScriptedClient
from state.decisions import Outcome, Usage
from state.events import Bar
from tests.conftest import PipelineFactory, signal
from tests.graphs.test_deliberation import APPROVE, LONG, buy


def costly(reply: Mapping[str, object], usd: float) -> Scripted:
    return Scripted(reply, usage=Usage(input_tokens=1000, output_tokens=100, cost_usd=usd))


async def test_past_the_per_decision_budget_the_commander_fails_closed(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    client = ScriptedClient(
        {"analyst": [costly(LONG, 0.30)], "validator": [costly(APPROVE, 0.30)], "commander": [buy(session_bar.close)]}
    )
    pipeline = await make_pipeline({"scripted": client}, provider="scripted", validation_mode="sequential")
    settings = pipeline.settings
    assert settings.llm.budgets.per_decision_usd == 0.50
    decision = await pipeline.submit(signal("e-budget", session_bar))
    assert decision.outcome is Outcome.HOLD
    assert client.calls("commander") == 0
    commander = next(s for s in decision.stages if s.stage == "commander")
    assert "per-decision LLM budget spent" in (commander.reason or "")
    assert decision.llm_usage.cost_usd == 0.60
    alerts = [e for e in await pipeline.services.store.audit_log() if e["action"] == "alert:llm_budget_exceeded"]
    assert len(alerts) == 1 and alerts[0]["detail"]["event_id"] == "e-budget"


async def test_past_the_daily_budget_no_role_is_called(make_pipeline: PipelineFactory, session_bar: Bar) -> None:
    client = ScriptedClient(
        {"analyst": [costly(LONG, 0.2)], "validator": [costly(APPROVE, 0.2)], "commander": [costly(buy(1.0), 0.05)]}
    )
    pipeline = await make_pipeline({"scripted": client}, provider="scripted", validation_mode="sequential")
    ledger = pipeline.services.ledger
    spent_before = await ledger.day_cost()
    for n in range(200):
        decision = await pipeline.submit(signal(f"e-day-{n}", session_bar))
        if decision.failed_stages:
            break
    assert await ledger.day_cost() >= pipeline.settings.llm.budgets.per_day_usd > spent_before
    refused = next(s for s in decision.stages if s.stage == decision.failed_stages[0])
    assert "daily LLM budget spent" in (refused.reason or "")
    assert decision.outcome in {Outcome.HOLD, Outcome.VETOED}
    calls = len(client.requests)
    await pipeline.submit(signal("e-day-after", session_bar))
    assert len(client.requests) == calls, "no call once the day's budget is spent"
