"""The workflow's tools over real records and the bundled data, each through `pipeline.request` (Sena's grammar,
Lubit, GitCode, RUNE) and checked against the code the CLI runs: a backtest, an eval set, the bots as a
portfolio and a profile's allocation, one decision explained."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from aegis.pipeline import Pipeline
from aegis.runtime.backtest_job import BacktestOptions, run_backtest_job
from aegis.settings import Settings
from evals.sets import GATE, build_set
from state.access import Access
from state.bots import Bot, BotDay
from state.clock import SimulatedClock
from state.decisions import Outcome
from tools.feeds.bundled import load_bundled_daily

NOW = datetime(2017, 9, 1, 21, tzinfo=UTC)
BOTS = ("apple", "energy", "soft")  # in the order of the panel's columns


@pytest.fixture
async def pipeline(tmp_path: Path) -> AsyncIterator[Pipeline]:
    """Three bots whose sleeves followed AAPL, XOM and MSFT over the bundle's last 120 days (their daily marks)."""
    panel = load_bundled_daily(["AAPL", "XOM", "MSFT"])
    async with await Pipeline.open(Settings(data_dir=tmp_path / "data", checkpoints=False),
                                   clock=SimulatedClock(NOW)) as opened:  # fmt: skip
        bots = [Bot(bot_id=b, strategy="test", allocation=0.3, since=datetime(2017, 1, 3, tzinfo=UTC))
                for b in BOTS]  # fmt: skip
        await opened.bots.register(bots, actor="test", reason="two bots")
        days = []
        for row in range(len(panel.dates) - 120, len(panel.dates)):
            for column, bot in enumerate(BOTS):
                growth = panel.close[row, column] / panel.close[-120, column]
                days.append(BotDay(bot_id=bot, day=panel.dates[row], pnl=30_000 * (growth - 1),
                                   sleeve=30_000 * growth, allocation=0.3))  # fmt: skip
        await opened.services.store.record_bot_days(days, NOW)
        yield opened


async def test_a_backtest_through_the_workflow_is_the_cli_backtest(pipeline: Pipeline) -> None:
    decision = await pipeline.request("backtest growth on MSFT for 2016", requester="ana")
    assert decision.outcome is Outcome.ANSWERED, decision.reason
    [result] = (decision.operation or {})["results"].values()
    options = BacktestOptions("growth", ("MSFT",), date(2016, 1, 1), date(2016, 12, 31))
    direct = run_backtest_job(pipeline.settings, options)
    assert result["data"]["total_return"] == round(direct.metrics.total_return, 4)
    assert result["data"]["buy_and_hold_return"] == round(direct.benchmark_metrics.total_return, 4)
    assert result["cites"] == ["bars:MSFT:2016-01-04..2016-12-30"]


async def test_the_portfolio_tools_read_the_bots_marks(pipeline: Pipeline) -> None:
    analysed = await pipeline.request("analyse the portfolio", requester="ana")
    assert analysed.outcome is Outcome.ANSWERED, analysed.reason
    [analysis] = (analysed.operation or {})["results"].values()
    assert set(analysis["data"]["risk_contributions"]) == set(BOTS)
    assert abs(sum(analysis["data"]["risk_contributions"].values()) - 1.0) < 1e-3

    proposed = await pipeline.request("propose a conservative rebalance", requester="ana")
    assert proposed.outcome is Outcome.ANSWERED, proposed.reason
    [proposal] = (proposed.operation or {})["results"].values()
    after = proposal["data"]["after"]
    assert set(after) == set(BOTS) and abs(sum(after.values()) - 100.0) < 0.1
    assert all(5.0 - 1e-6 <= share <= 40.0 + 1e-6 for share in after.values())

    applied = await pipeline.request("rebalance at the conservative level", requester="ana", role=Access.TRADE)
    done = await pipeline.approve(f"workflow:{applied.event_id}", by="ben", role=Access.TRADE, reason="try it")
    assert done.result is not None
    assert done.result["outcome"] == "applied", done.result
    allocations = {b.bot_id: round(b.allocation * 100, 2) for b in await pipeline.bots.bots()}
    assert allocations == after  # what was proposed is what was applied: one computation


async def test_a_decision_is_explained_from_its_record(pipeline: Pipeline) -> None:
    first = await pipeline.request("show the p&l", requester="ana")
    explained = await pipeline.request(f"explain decision {first.event_id}", requester="ana")
    assert explained.outcome is Outcome.ANSWERED, explained.reason
    [result] = (explained.operation or {})["results"].values()
    assert result["data"]["event_id"] == first.event_id and result["data"]["outcome"] == "answered"
    assert f"decision:{first.event_id}" in result["cites"]
    missing = await pipeline.request("explain decision nope-123", requester="ana")
    assert missing.outcome is Outcome.EXECUTION_FAILED and "no decision for event nope-123" in missing.reason


async def test_an_eval_set_runs_through_the_workflow(pipeline: Pipeline, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    build_set(GATE, tmp_path / "evals" / "sets")
    monkeypatch.chdir(tmp_path)  # the sets' folder is relative to the working folder, as for `aegis eval`
    decision = await pipeline.request(f"run the {GATE.name} eval", requester="ana")
    assert decision.outcome is Outcome.ANSWERED, decision.reason
    [result] = (decision.operation or {})["results"].values()
    run = Path(result["data"]["run"])
    lines = (run / "decisions.jsonl").read_text().splitlines()
    assert sum(result["data"]["outcomes"].values()) == len(lines) > 0
    assert f"eval_set:{GATE.name}" in result["cites"]
