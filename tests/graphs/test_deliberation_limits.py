"""The deliberation's risk guard trades under the limits in force: an entry the settings' daily-loss limit
allows is blocked at the next session after an operator tightens it (scripted roles), and allowed again
after the limit is reset; the decision record's context shows the limits the session saw."""

from __future__ import annotations

from pathlib import Path

from aegis import Pipeline, Settings
from agents.llm.scripted import ScriptedClient
from graphs.deliberation.config import DeliberationConfig
from state.access import Access
from state.clock import SimulatedClock
from state.context_loader import DAY_START_EQUITY_KEY, VIX_KEY
from state.decisions import Outcome
from state.events import Bar
from tests.conftest import SESSION_DAY, SYMBOL, PipelineFactory, bundled_bars, signal
from tests.graphs.test_deliberation import APPROVE, LONG, buy

LOSS_PCT = 2.5  # the day's loss when the sessions run: under the settings' 3 %, over the tightened 2 %


def buying(bar: Bar, sessions: int) -> ScriptedClient:
    return ScriptedClient(
        {"analyst": [LONG] * sessions, "validator": [APPROVE] * sessions, "commander": [buy(bar.close)] * sessions}
    )


async def test_an_entry_the_setting_allows_is_blocked_after_the_daily_loss_limit_is_tightened(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    client = buying(session_bar, 3)
    pipeline = await make_pipeline({"scripted": client}, provider="scripted")
    assert pipeline.settings.deliberation.risk_limits.daily_loss_limit_pct == 3.0
    equity = pipeline.settings.starting_cash
    await pipeline.services.hot.set_value(DAY_START_EQUITY_KEY, equity / (1 - LOSS_PCT / 100.0))

    allowed = await pipeline.submit(signal("e-before", session_bar))
    assert allowed.outcome is Outcome.ORDERED, allowed.reason

    await pipeline.limits.set("daily_loss_limit_pct", 2.0, actor="ana", reason="rough week", role=Access.TRADE)
    blocked = await pipeline.submit(signal("e-after", session_bar))
    assert blocked.outcome is Outcome.BLOCKED, blocked.reason
    assert blocked.reason == ("risk guard: daily loss 2.50 % has reached the limit of 2 %: no new entries today"), (
        blocked.reason
    )
    assert blocked.context_hash != allowed.context_hash
    assert client.calls("commander") == 2  # the roles were asked: the guard had the last word

    await pipeline.limits.reset("daily_loss_limit_pct", actor="lee", reason="calmer", role=Access.ADMIN)
    again = await pipeline.submit(signal("e-reset", session_bar))
    assert again.outcome is Outcome.ORDERED, again.reason


async def test_a_tightened_concentration_limit_clips_the_entry_to_it(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    """Clipping follows the limits in force too, not only rejections."""
    big = buy(session_bar.close, size_pct=60.0)
    client = ScriptedClient({"analyst": [LONG], "validator": [APPROVE], "commander": [big]})
    pipeline = await make_pipeline({"scripted": client}, provider="scripted")

    await pipeline.limits.set("max_concentration_pct", 1.0, actor="ana", reason="tiny", role=Access.TRADE)
    small = await pipeline.submit(signal("e-tight", session_bar))
    assert small.outcome is Outcome.ORDERED and small.order is not None, small.reason
    assert small.order.request.quantity * session_bar.close <= 0.01 * pipeline.settings.starting_cash
    assert "limits.concentration" in {c.rule for c in small.guard_changes}


async def test_with_redis_a_worker_sees_a_change_made_by_another_process_at_its_next_session(
    postgres_url: str, redis_namespace: tuple[str, str], tmp_path: Path, session_bar: Bar
) -> None:
    """Production stores: the CLI's process writes PostgreSQL and Redis; the worker's next session reads it,
    with nothing to wait for."""
    redis_url, prefix = redis_namespace
    roles = {
        role: {**config.model_dump(), "provider": "scripted"} for role, config in DeliberationConfig().roles.items()
    }
    settings = Settings(
        data_dir=tmp_path / "worker",
        deliberation=DeliberationConfig.model_validate({"roles": roles}),
        postgres_url=postgres_url,
        redis_url=redis_url,
        redis_prefix=prefix,
    )
    clock = SimulatedClock(session_bar.time)
    client = buying(session_bar, 2)
    async with await Pipeline.open(settings, clock=clock, providers={"scripted": client}) as worker:
        for bar in bundled_bars()[SESSION_DAY - 119 : SESSION_DAY + 1]:
            await worker.services.hot.push_bar(SYMBOL, bar)
        await worker.services.hot.set_value(VIX_KEY, 14.0)
        equity = settings.starting_cash
        await worker.services.hot.set_value(DAY_START_EQUITY_KEY, equity / (1 - LOSS_PCT / 100.0))
        allowed = await worker.submit(signal("e-before", session_bar))
        assert allowed.outcome is Outcome.ORDERED, allowed.reason

        cli_settings = settings.model_copy(update={"data_dir": tmp_path / "cli"})
        async with await Pipeline.open(cli_settings, clock=clock) as cli:
            await cli.limits.set("daily_loss_limit_pct", 2.0, actor="ana", reason="rough week", role=Access.TRADE)

        blocked = await worker.submit(signal("e-after", session_bar))
        assert blocked.outcome is Outcome.BLOCKED and "limit of 2 %" in blocked.reason, blocked.reason
