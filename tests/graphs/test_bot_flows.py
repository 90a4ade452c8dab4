"""The bots' operations flows on the bundled real data: the rebalancing (applied, skipped at 4.9 %, applied
at 5.1 %), the circuit breaker (only the losers stop), the routing of their events, and the pre-screen of
a stopped, unknown or other bot's signal."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest
from scipy.optimize import brentq

from aegis.pipeline import Pipeline
from quant.portfolio import mean_historical_return, optimize_for_profile, propose_rebalance, sample_covariance
from state.alerts import AlertLevel
from state.bots import Bot, BotDay, BotState
from state.clock import SimulatedClock
from state.decisions import Outcome
from tests.conftest import SESSION_DAY, PipelineFactory, bundled_bars, signal
from tools.feeds.bundled import load_bundled_daily
from tools.ops.allocation import RebalanceConfig, bot_returns

# Three real stocks' daily returns stand for three bots' returns on their sleeves.
STANDS_FOR = {"tech": "AAPL", "banks": "JPM", "energy": "XOM"}
HISTORY_DAYS = 120


def _marks(equity: float, allocation: dict[str, float]) -> list[BotDay]:
    """Day-start marks whose day-to-day P&L over the sleeve is each stock's real daily return."""
    panel = load_bundled_daily(list(STANDS_FOR.values()))
    closes = panel.close[SESSION_DAY - HISTORY_DAYS : SESSION_DAY + 1]
    days = panel.dates[SESSION_DAY - HISTORY_DAYS : SESSION_DAY + 1]
    marks: list[BotDay] = []
    for j, bot in enumerate(STANDS_FOR):
        sleeve, pnl = allocation[bot] * equity, 0.0
        for t, day in enumerate(days):
            marks.append(BotDay(bot_id=bot, day=day, pnl=pnl, sleeve=sleeve, allocation=allocation[bot]))
            if t + 1 < len(days):
                pnl += sleeve * (closes[t + 1, j] / closes[t, j] - 1.0)
    return marks


async def _with_bots(pipeline: Pipeline, allocation: dict[str, float]) -> None:
    now = pipeline.services.clock.now()
    bots = [
        Bot(bot_id=b, strategy="test", universe=(s,), allocation=allocation[b], since=now)
        for b, s in STANDS_FOR.items()
    ]
    await pipeline.bots.register(bots, actor="test", reason="three bots")
    await pipeline.services.store.record_bot_days(_marks(100_000.0, allocation), now)


def _rebalancing_due(pipeline: Pipeline, event_id: str = "rebalance-test") -> dict[str, Any]:
    at = pipeline.services.clock.now().isoformat()
    return {"id": event_id, "type": "REBALANCING_DUE", "source": "test", "event_time": at,
            "payload": {"portfolio_id": "bots", "reason": "weekly"}}  # fmt: skip


def _breaker(pipeline: Pipeline, event_id: str, scope: str, bot_ids: list[str]) -> dict[str, Any]:
    at = pipeline.services.clock.now().isoformat()
    return {"id": event_id, "type": "CIRCUIT_BREAKER", "source": "test", "event_time": at,
            "payload": {"scope": scope, "bot_ids": bot_ids, "daily_loss_pct": 11.0, "reason": "drill"}}  # fmt: skip


def _estimates() -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """The estimates the flow makes from the marks, and the moderate target."""
    ids = list(STANDS_FOR)
    history = bot_returns(_marks(100_000.0, dict.fromkeys(ids, 1 / 3)), ids)
    growth = history.growth()
    mu, cov = mean_historical_return(growth), sample_covariance(growth)
    config = RebalanceConfig()
    target = optimize_for_profile(
        config.risk_level, mu, cov, bounds=(config.min_allocation, config.max_allocation), risk_free_rate=0.0
    ).weights
    return ids, mu, cov, target


def _current_with_improvement(wanted: float) -> dict[str, float]:
    """Current weights on the line from the target towards equal weights whose move to the target improves
    the expected Sharpe ratio by exactly `wanted` (relative)."""
    ids, mu, cov, target = _estimates()
    equal = np.full(len(ids), 1 / len(ids))

    def improvement(s: float) -> float:
        current = target + s * (equal - target)
        return propose_rebalance(ids, current, target, mu, cov, risk_free_rate=0.0).sharpe_improvement - wanted

    s = brentq(improvement, 1e-9, 1.0, xtol=1e-15)
    return dict(zip(ids, (target + s * (equal - target)).tolist(), strict=True))


async def test_a_rebalance_applies_the_moderate_allocation_and_the_next_sessions_size_by_it(
    make_pipeline: PipelineFactory,
) -> None:
    pipeline = await make_pipeline()
    await _with_bots(pipeline, {"tech": 0.40, "banks": 0.40, "energy": 0.20})
    decision = await pipeline.submit(_rebalancing_due(pipeline))

    assert decision.outcome is Outcome.APPLIED, decision.reason
    found = decision.operation
    assert found is not None and found["applied"] and found["sharpe_after"] >= found["sharpe_before"] * 1.05
    _, _, _, target = _estimates()
    held = {bot.bot_id: bot.allocation for bot in await pipeline.bots.bots()}
    assert held == pytest.approx(dict(zip(STANDS_FOR, target.tolist(), strict=True)), abs=1e-12)
    assert all(0.05 - 1e-12 <= share <= 0.40 + 1e-12 for share in held.values())
    audit = [e for e in await pipeline.services.store.audit_log() if e["action"] == "allocation_applied"]
    assert audit and audit[0]["actor"] == "rebalancing" and audit[0]["detail"]["after"] == pytest.approx(held)
    [alert] = [a for a in await pipeline.services.store.alerts() if a.kind == "rebalance_applied"]
    assert alert.level is AlertLevel.INFO
    # The sessions read the new allocation: the mirror the context loader reads holds it.
    context = await pipeline.services.loader.load("AAPL")
    assert {b.bot_id: b.allocation for b in context.bots.bots} == held


async def test_a_stopped_bot_keeps_its_allocation_and_the_running_ones_share_the_rest(
    make_pipeline: PipelineFactory,
) -> None:
    pipeline = await make_pipeline()
    await _with_bots(pipeline, {"tech": 0.30, "banks": 0.30, "energy": 0.10})
    now = pipeline.services.clock.now()
    await pipeline.bots.register([Bot(bot_id="idle", strategy="test", allocation=0.30, since=now)], actor="test",
                                 reason="a fourth bot")  # fmt: skip
    days = sorted({mark.day for mark in await pipeline.services.store.bot_days()})
    flat = [BotDay(bot_id="idle", day=day, pnl=0.0, sleeve=30_000.0, allocation=0.30) for day in days]
    await pipeline.services.store.record_bot_days(flat, now)  # no position, no fill: no return variation
    await pipeline.bots.stop("idle", actor="test", reason="stopped by its losing streak")

    decision = await pipeline.submit(_rebalancing_due(pipeline))
    assert decision.outcome is Outcome.APPLIED, decision.reason  # the idle, stopped bot no longer blocks it
    assert decision.operation is not None and decision.operation["stopped"] == ["idle"]
    _, _, _, target = _estimates()  # the three running bots' proportions, as if they were alone
    held = {bot.bot_id: bot.allocation for bot in await pipeline.bots.bots()}
    assert held["idle"] == 0.30 and sum(held.values()) == pytest.approx(1.0)
    running = {bot: held[bot] for bot in STANDS_FOR}
    assert running == pytest.approx(dict(zip(STANDS_FOR, (0.70 * target).tolist(), strict=True)), abs=1e-12)


@pytest.mark.parametrize(("improvement", "outcome"), [(0.049, Outcome.SKIPPED), (0.051, Outcome.APPLIED)])
async def test_the_five_percent_rule_skips_at_4_9_and_applies_at_5_1(
    make_pipeline: PipelineFactory, improvement: float, outcome: Outcome
) -> None:
    current = _current_with_improvement(improvement)
    pipeline = await make_pipeline()
    await _with_bots(pipeline, current)
    decision = await pipeline.submit(_rebalancing_due(pipeline))

    assert decision.outcome is outcome, decision.reason
    found = decision.operation
    assert found is not None
    assert found["sharpe_improvement"] == pytest.approx(improvement, abs=1e-9)
    assert f"({improvement:+.1%})" in decision.reason  # both Sharpe figures and the change are in the record
    assert f"{found['sharpe_before']:.3f} -> {found['sharpe_after']:.3f}" in decision.reason
    after = {bot.bot_id: bot.allocation for bot in await pipeline.bots.bots()}
    if outcome is Outcome.SKIPPED:
        assert after == current
    else:
        assert after != current and sum(after.values()) == pytest.approx(1.0)


async def test_a_rebalance_without_enough_history_is_a_recorded_skip(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    now = pipeline.services.clock.now()
    await pipeline.bots.register(
        [Bot(bot_id=b, strategy="test", allocation=1 / 3, since=now) for b in STANDS_FOR], actor="test", reason="x"
    )
    decision = await pipeline.submit(_rebalancing_due(pipeline))
    assert decision.outcome is Outcome.SKIPPED
    assert "0 days of returns, fewer than the 20 needed" in decision.reason
    assert decision.analysis is None and not decision.stages  # no role was asked


async def test_the_breaker_stops_only_the_named_bots_records_why_and_alerts(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    await _with_bots(pipeline, {"tech": 0.3, "banks": 0.3, "energy": 0.3})
    decision = await pipeline.submit(_breaker(pipeline, "breaker-1", "bots", ["banks", "nobody"]))

    assert decision.outcome is Outcome.APPLIED
    assert decision.operation is not None and decision.operation["stopped"] == ["banks"]
    assert decision.operation["unknown"] == ["nobody"]
    states = {bot.bot_id: bot for bot in await pipeline.bots.bots()}
    assert [b for b, bot in states.items() if bot.state is BotState.STOPPED] == ["banks"]
    assert states["banks"].actor == "circuit_breaker" and "drill" in states["banks"].reason
    assert states["banks"].stopped_until is None  # until an operator resumes it (the default)
    [alert] = [a for a in await pipeline.services.store.alerts() if a.kind == "circuit_breaker"]
    assert alert.level is AlertLevel.CRITICAL and "banks" in alert.message

    again = await pipeline.submit(_breaker(pipeline, "breaker-2", "bots", ["banks"]))
    assert again.outcome is Outcome.SKIPPED  # already stopped: nothing changes, no second stop
    everyone = await pipeline.submit(_breaker(pipeline, "breaker-3", "all", []))
    assert everyone.operation is not None and everyone.operation["stopped"] == ["tech", "energy"]
    assert all(bot.state is BotState.STOPPED for bot in await pipeline.bots.bots())


async def test_the_breaker_can_resume_the_next_day(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    settings = pipeline.settings
    assert settings.breaker.resume == "operator"
    await _with_bots(pipeline, {"tech": 0.3, "banks": 0.3, "energy": 0.3})
    # The same records, opened with the next-day option.
    next_day = settings.model_copy(update={"breaker": settings.breaker.model_copy(update={"resume": "next_day"})})
    other = await Pipeline.open(next_day, clock=pipeline.services.clock)
    try:
        await other.submit(_breaker(other, "breaker-nd", "bots", ["tech"]))
        [tech] = [b for b in await other.bots.bots() if b.bot_id == "tech"]
        assert tech.stopped_until is not None and tech.stopped_until.date() == tech.since.date() + timedelta(days=1)
        assert await other.bots.resume_due(tech.since) == []
        [resumed] = await other.bots.resume_due(tech.stopped_until)
        assert resumed.bot_id == "tech" and resumed.running and resumed.actor == "scheduler"
    finally:
        await other.close()


async def test_a_stopped_or_unknown_bots_signal_is_settled_without_any_role(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    await _with_bots(pipeline, {"tech": 0.3, "banks": 0.3, "energy": 0.3})
    await pipeline.bots.stop("tech", actor="operator", reason="maintenance")
    bar = bundled_bars()[SESSION_DAY]

    stopped = await pipeline.submit({**signal("s-1", bar), "bot_id": "tech"})
    unknown = await pipeline.submit({**signal("s-2", bar), "bot_id": "ghost"})
    default = await pipeline.submit(signal("s-3", bar))  # no bot_id: the default bot, not registered here
    for decision in (stopped, unknown, default):
        assert decision.outcome is Outcome.SCREENED_OUT
        assert decision.analysis is None and not decision.stages
    assert "tech STOPPED" in stopped.reason and "maintenance" in stopped.reason
    assert "'ghost' is not registered" in unknown.reason
    assert "'default' is not registered" in default.reason
    assert stopped.bot_id == "tech" and default.bot_id == "default"

    running = await pipeline.submit({**signal("s-4", bar), "bot_id": "banks"})
    assert running.analysis is not None  # a running bot's signal is deliberated


async def test_without_bots_every_signal_belongs_to_the_default_bot(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    decision = await pipeline.submit(signal("plain", bundled_bars()[SESSION_DAY]))
    assert decision.bot_id == "default" and decision.analysis is not None
    if decision.order is not None:
        assert decision.order.request.bot_id == "default"


async def test_an_operations_event_of_the_wrong_kind_sent_to_a_flow_is_settled_without_acting(
    make_pipeline: PipelineFactory,
) -> None:
    pipeline = await make_pipeline()
    graph = pipeline.router.graphs["breaker"]
    event = _rebalancing_due(pipeline, "sent-to-the-wrong-flow")
    result = await graph.ainvoke({"event": event}, {"configurable": {"thread_id": "sent-to-the-wrong-flow"}})
    assert result["decision"].outcome is Outcome.SCREENED_OUT
    assert "handles CIRCUIT_BREAKER events" in result["decision"].reason
    assert pipeline.router.flow_of(event) == "rebalance"
    assert pipeline.router.flow_of({"type": "NEWS"}) == "deliberation"
    assert pipeline.router.flow_of("not an event") == "deliberation"


async def test_an_invalid_operations_event_is_a_dead_letter(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    bad = _breaker(pipeline, "bad-breaker", "some", [])
    decision = await pipeline.submit(bad)
    assert decision.outcome is Outcome.REJECTED and "scope" in decision.reason
    [dead] = await pipeline.services.store.rejected_events()
    assert dead["event_id"] == "bad-breaker"
    assert (await pipeline.submit(bad)).outcome is Outcome.REJECTED  # the same answer on redelivery


def test_the_real_marks_have_history() -> None:
    history = bot_returns(_marks(100_000.0, dict.fromkeys(STANDS_FOR, 1 / 3)), list(STANDS_FOR))
    assert len(history.days) == HISTORY_DAYS and history.days[0] < date(2013, 12, 31)


async def test_the_rules_decide_and_an_operator_changes_them_at_runtime(make_pipeline: PipelineFactory) -> None:
    current = _current_with_improvement(0.049)
    pipeline = await make_pipeline()
    await _with_bots(pipeline, current)
    skipped = await pipeline.submit(_rebalancing_due(pipeline, "rb-1"))
    assert skipped.outcome is Outcome.SKIPPED and "rule rebalance-below-5pct-skips v1" in skipped.reason
    assert skipped.operation is not None
    assert [(o["rule_id"], o["status"]) for o in skipped.operation["rules"]] == [
        ("rebalance-below-5pct-skips", "matched")
    ]  # fmt: skip

    # Lower the bar to 4 %: the same proposal now applies (the rule's version 2 decided it).
    await pipeline.rules.change(
        "rebalance-below-5pct-skips",
        {"conditions": [{"field": "sharpe_improvement", "op": "<", "value": 0.04}]},
        actor="ana",
        reason="4 % is enough",
    )
    applied = await pipeline.submit(_rebalancing_due(pipeline, "rb-2"))
    assert applied.outcome is Outcome.APPLIED, applied.reason
    assert applied.operation is not None
    assert applied.operation["rules"] == [
        {"rule_id": "rebalance-below-5pct-skips", "version": 2, "status": "not_matched", "actions": [], "reason": ""}
    ]


async def test_a_rule_that_cannot_be_judged_fails_safe(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    await _with_bots(pipeline, {"tech": 0.40, "banks": 0.40, "energy": 0.20})
    broken = [{"field": "no_such_fact", "op": ">", "value": 1}]
    await pipeline.rules.change("rebalance-below-5pct-skips", {"conditions": broken}, actor="ana", reason="typo")
    await pipeline.rules.change("daily-loss-stops-losing-bots", {"conditions": broken}, actor="ana", reason="typo")

    rebalance = await pipeline.submit(_rebalancing_due(pipeline))
    assert rebalance.outcome is Outcome.SKIPPED  # the allocation stays: changing nothing is the safe side
    assert "no fact 'no_such_fact'" in rebalance.reason and "skipped to fail safe" in rebalance.reason
    breaker = await pipeline.submit(_breaker(pipeline, "breaker-broken", "bots", ["banks"]))
    assert breaker.outcome is Outcome.APPLIED  # a loss limit that cannot be judged stops: the safe side
    assert "stopped to fail safe" in next(b for b in await pipeline.bots.bots() if b.bot_id == "banks").reason


async def test_a_disabled_breaker_rule_leaves_the_bots_running(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    await _with_bots(pipeline, {"tech": 0.3, "banks": 0.3, "energy": 0.3})
    await pipeline.rules.disable("daily-loss-stops-losing-bots", actor="ana", reason="drill")
    decision = await pipeline.submit(_breaker(pipeline, "breaker-off", "bots", ["banks"]))
    assert decision.outcome is Outcome.SKIPPED and "no rule stops bots" in decision.reason
    assert all(bot.running for bot in await pipeline.bots.bots())


def _status(pipeline: Pipeline, event_id: str, bot_id: str, status: str, rate: float | None) -> dict[str, Any]:
    payload: dict[str, Any] = {"bot_id": bot_id, "status": status}
    if rate is not None:
        payload["error_rate"] = rate
    return {"id": event_id, "type": "BOT_STATUS", "source": "bots",
            "event_time": pipeline.services.clock.now().isoformat(), "payload": payload}  # fmt: skip


async def test_a_bot_whose_api_errors_reach_30_percent_is_stopped_by_the_rule(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    await _with_bots(pipeline, {"tech": 0.3, "banks": 0.3, "energy": 0.3})
    heartbeat = await pipeline.submit(_status(pipeline, "hb-1", "tech", "heartbeat", None))
    below = await pipeline.submit(_status(pipeline, "err-1", "tech", "error", 0.29))
    assert heartbeat.outcome is below.outcome is Outcome.SKIPPED
    assert "no rule acts on it" in below.reason and heartbeat.analysis is None and not heartbeat.stages
    assert all(bot.running for bot in await pipeline.bots.bots())

    at_limit = await pipeline.submit(_status(pipeline, "err-2", "tech", "error", 0.30))
    assert at_limit.outcome is Outcome.APPLIED, at_limit.reason
    tech = next(b for b in await pipeline.bots.bots() if b.bot_id == "tech")
    assert not tech.running and tech.actor == "rules" and "rule bot-api-errors-stop-bot v1" in tech.reason
    assert [b.bot_id for b in await pipeline.bots.bots() if not b.running] == ["tech"]
    assert any(
        a.kind == "bot_status" and a.level is AlertLevel.CRITICAL for a in await pipeline.services.store.alerts()
    )
    held = await pipeline.services.store.get_value("bot_status:tech")
    assert held is not None and held[0] == {"status": "error", "error_rate": 0.3, "event_id": "err-2"}
    assert pipeline.router.flow_of(_status(pipeline, "x", "tech", "heartbeat", None)) == "bot_status"


async def test_an_action_the_bot_status_flow_cannot_perform_is_said_not_ignored(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    await _with_bots(pipeline, {"tech": 0.3, "banks": 0.3, "energy": 0.3})
    await pipeline.rules.add(
        {"rule_id": "errors-halt", "description": "errors halt trading", "event_type": "BOT_STATUS",
         "conditions": [{"field": "payload.status", "op": "==", "value": "error"}],
         "actions": [{"kind": "set_trading_state", "params": {"state": "halted"}}]},
        actor="ana", reason="test",
    )  # fmt: skip
    decision = await pipeline.submit(_status(pipeline, "err-x", "banks", "error", 0.1))
    assert decision.outcome is Outcome.SKIPPED  # nothing was done, and the record and an alert say why
    assert "not performed: action set_trading_state of rule errors-halt v1" in decision.reason
    assert "the bot_status flow does not perform it" in decision.reason
    assert any(a.kind == "rule_action_not_performed" for a in await pipeline.services.store.alerts())


def _anomaly(pipeline: Pipeline, event_id: str, rule: str, severity: str, **envelope: Any) -> dict[str, Any]:
    return {"id": event_id, "type": "ANOMALY_DETECTED", "source": "detectors",
            "event_time": pipeline.services.clock.now().isoformat(),
            "payload": {"rule": rule, "severity": severity, "evidence": {"losses": 7.0}}, **envelope}  # fmt: skip


async def test_a_high_bot_anomaly_stops_the_bot_and_a_medium_one_does_not(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    await _with_bots(pipeline, {"tech": 0.3, "banks": 0.3, "energy": 0.3})
    medium = await pipeline.submit(_anomaly(pipeline, "an-1", "bot.loss_streak", "MEDIUM", bot_id="banks"))
    assert medium.outcome is Outcome.SKIPPED and all(b.running for b in await pipeline.bots.bots())
    high = await pipeline.submit(_anomaly(pipeline, "an-2", "bot.loss_streak", "HIGH", bot_id="banks"))
    assert high.outcome is Outcome.APPLIED, high.reason
    assert [b.bot_id for b in await pipeline.bots.bots() if not b.running] == ["banks"]
    assert high.operation is not None and high.operation["bot_id"] == "banks"
    assert any(a.kind == "anomaly" and a.level is AlertLevel.CRITICAL for a in await pipeline.services.store.alerts())


async def test_a_market_anomaly_blocks_new_entries_in_its_symbol(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    await _with_bots(pipeline, {"tech": 0.3, "banks": 0.3, "energy": 0.3})
    decision = await pipeline.submit(_anomaly(pipeline, "an-3", "market.price_move", "HIGH", symbols=["AAPL"]))
    assert decision.outcome is Outcome.APPLIED and "new entries in AAPL blocked" in decision.reason
    assert all(b.running for b in await pipeline.bots.bots())  # a market anomaly stops no bot
    states = await pipeline.trading.states()
    assert str(states.effective("AAPL").state) == "reducing" and str(states.account.state) == "active"
    entry = await pipeline.submit({**signal("after-anomaly", bundled_bars()[SESSION_DAY]), "bot_id": "tech"})
    assert entry.outcome is Outcome.SCREENED_OUT and "reducing" in entry.reason and entry.analysis is None


async def test_the_market_anomalys_block_ends_by_itself_after_its_cooldown(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    await _with_bots(pipeline, {"tech": 0.3, "banks": 0.3, "energy": 0.3})
    await pipeline.submit(_anomaly(pipeline, "an-4", "market.volume_spike", "MEDIUM", symbols=["AAPL"]))
    blocked = (await pipeline.trading.states()).effective("AAPL")
    assert str(blocked.state) == "reducing" and blocked.until is not None
    assert blocked.until - blocked.since == timedelta(minutes=30)
    clock = pipeline.services.clock
    assert isinstance(clock, SimulatedClock)
    clock.set(blocked.until - timedelta(seconds=1))
    await pipeline.monitor.tick()
    assert str((await pipeline.trading.states()).effective("AAPL").state) == "reducing"
    clock.set(blocked.until)
    await pipeline.monitor.tick()
    states = await pipeline.trading.states()
    assert str(states.effective("AAPL").state) == "active"
    lifted = states.symbols["AAPL"]  # the symbol's own state: back to ACTIVE, by the scheduler, saying why
    assert str(lifted.state) == "active" and lifted.actor == "scheduler" and "ended at" in lifted.reason
