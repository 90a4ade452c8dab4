"""The posture control on a real pipeline (SQLite, embedded hot store) on a fake clock: the posture in force
(override in either direction, evaluation, the VIX before either), what every change writes (a history row
with its cause, an audit entry, one INFO alert), what sessions read, and the fail-safe rules on top."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from aegis import Pipeline, Settings
from quant.posture import MarketRegime, Posture, evaluate_posture
from state.alerts import AlertLevel
from state.clock import SimulatedClock
from state.context_loader import POSTURE_KEY, STOP_LOSS_STREAK_COUNTER, VIX_KEY
from state.posture import PostureSource
from tests.conftest import SESSION_DAY, bundled_bars
from tools.ops.posture import ALERT_KIND

T0 = bundled_bars()[SESSION_DAY].time


@pytest.fixture
async def pipeline(tmp_path: Path) -> AsyncIterator[Pipeline]:
    opened = await Pipeline.open(Settings(data_dir=tmp_path / "data", checkpoints=False), clock=SimulatedClock(T0))
    await opened.services.hot.set_value(VIX_KEY, 14.0)  # offensive
    try:
        yield opened
    finally:
        await opened.close()


def move(pipeline: Pipeline, minutes: float) -> None:
    clock = pipeline.services.clock
    assert isinstance(clock, SimulatedClock)
    clock.set(T0 + timedelta(minutes=minutes))


async def evaluate(pipeline: Pipeline, vix: float) -> None:
    await pipeline.posture.evaluated(evaluate_posture(MarketRegime(vix=vix)), vix)


async def posture_alerts(pipeline: Pipeline) -> list[str]:
    alerts = await pipeline.services.store.alerts(limit=1000)
    assert all(a.level is AlertLevel.INFO for a in alerts if a.kind == ALERT_KIND)
    return [a.message for a in reversed(alerts) if a.kind == ALERT_KIND]


async def posture_audit(pipeline: Pipeline) -> list[dict[str, Any]]:
    """The posture control's audit entries, newest first."""
    return [e for e in await pipeline.services.store.audit_log(1000) if e["action"].startswith("posture_")]


async def session_posture(pipeline: Pipeline) -> tuple[str, str]:
    context = await pipeline.services.loader.load("AAPL")
    return str(context.posture), context.posture_reason


async def test_before_any_evaluation_or_override_sessions_take_the_vix(pipeline: Pipeline) -> None:
    current = await pipeline.posture.current()
    assert (current.posture, current.source) == (Posture.OFFENSIVE, PostureSource.VIX)
    assert await session_posture(pipeline) == ("offensive", "VIX 14.00")
    assert await pipeline.services.hot.get_value(POSTURE_KEY) is None


async def test_an_override_in_either_direction_with_an_end_then_the_evaluation_again(pipeline: Pipeline) -> None:
    await evaluate(pipeline, 20.0)  # guerrilla
    assert await session_posture(pipeline) == ("guerrilla", (await pipeline.posture.current()).reason)
    until = T0 + timedelta(minutes=90)
    await pipeline.posture.override(Posture.OFFENSIVE, reason="calm desk", actor="alice", until=until)
    posture, reason = await session_posture(pipeline)
    assert posture == "offensive"  # looser than the evaluation and the VIX: the operator's call
    assert reason == f"override offensive by alice until {until.isoformat()}: calm desk"

    move(pipeline, 89.9)
    assert await pipeline.posture.lift_expired() is None
    assert (await session_posture(pipeline))[0] == "offensive"
    move(pipeline, 90)
    assert (await session_posture(pipeline))[0] == "guerrilla"  # over at once, before it is lifted
    lifted = await pipeline.posture.lift_expired()
    assert lifted is not None and lifted.source is PostureSource.EVALUATED and lifted.posture is Posture.GUERRILLA
    assert await pipeline.posture.lift_expired() is None  # ended once

    await pipeline.posture.override(Posture.DEFENSIVE, reason="FOMC", actor="bob")  # stricter, until cleared
    move(pipeline, 10_000)
    assert (await session_posture(pipeline))[0] == "defensive"
    cleared = await pipeline.posture.clear(reason="FOMC passed", actor="bob")
    assert cleared.posture is Posture.GUERRILLA

    history = await pipeline.posture.history(limit=100)
    assert [(c.posture, c.reason.split(": ")[0]) for c in history] == [
        ("guerrilla", f"evaluated at {T0.isoformat()}"),
        ("offensive", f"override offensive by alice until {until.isoformat()}"),
        ("guerrilla", f"evaluated at {T0.isoformat()}"),
        ("defensive", "override defensive by bob until cleared"),
        ("guerrilla", f"evaluated at {T0.isoformat()}"),
    ]
    assert await posture_alerts(pipeline) == [
        "posture offensive (vix) -> guerrilla (evaluated): " + history[0].reason.split(": ", 1)[1],
        "posture guerrilla (evaluated) -> offensive (override): calm desk",
        f"posture offensive (override) -> guerrilla (evaluated): override ended at {until.isoformat()} "
        "(calm desk, by alice)",
        "posture guerrilla (evaluated) -> defensive (override): FOMC",
        "posture defensive (override) -> guerrilla (evaluated): FOMC passed",
    ]
    audit = [(e["actor"], e["action"], e["detail"]["reason"]) for e in await posture_audit(pipeline)]
    assert audit[:4] == [
        ("bob", "posture_override_ended", "FOMC passed"),
        ("bob", "posture_override", "FOMC"),
        ("scheduler", "posture_override_ended", f"override ended at {until.isoformat()} (calm desk, by alice)"),
        ("alice", "posture_override", "calm desk"),
    ]


async def test_an_evaluation_that_changes_nothing_in_force_is_audited_but_not_alerted(pipeline: Pipeline) -> None:
    await evaluate(pipeline, 20.0)
    await evaluate(pipeline, 21.0)  # still guerrilla
    await pipeline.posture.override(Posture.DEFENSIVE, reason="drill", actor="alice")
    await evaluate(pipeline, 12.0)  # offensive underneath; the override stays in force
    assert (await pipeline.posture.current()).posture is Posture.DEFENSIVE
    assert (await pipeline.posture.book()).evaluated is not None
    assert len(await posture_alerts(pipeline)) == 2
    evaluations = [e for e in await posture_audit(pipeline) if e["action"] == "posture_evaluated"]
    assert len(evaluations) == 3
    await pipeline.posture.clear(reason="drill over", actor="alice")
    assert (await pipeline.posture.current()).posture is Posture.OFFENSIVE


async def test_a_stale_evaluation_never_loosens_past_the_vix_sessions_read(pipeline: Pipeline) -> None:
    await evaluate(pipeline, 12.0)  # offensive
    await pipeline.services.hot.set_value(VIX_KEY, 30.0)  # the VIX jumped since the evaluation
    posture, reason = await session_posture(pipeline)
    assert posture == "defensive" and reason.endswith("; VIX 30.00 now: defensive")
    await pipeline.services.hot.set_value(VIX_KEY, 10.0)
    assert (await session_posture(pipeline))[0] == "offensive"
    await evaluate(pipeline, 30.0)
    await pipeline.services.hot.set_value(VIX_KEY, 10.0)  # a falling VIX waits for the next evaluation
    assert (await session_posture(pipeline))[0] == "defensive"


async def test_the_stop_loss_streak_and_failed_sessions_still_force_defensive_under_an_override(
    pipeline: Pipeline,
) -> None:
    await pipeline.posture.override(Posture.OFFENSIVE, reason="trend day", actor="alice")
    await pipeline.services.store.set_counter(STOP_LOSS_STREAK_COUNTER, 3)
    posture, reason = await session_posture(pipeline)
    assert posture == "defensive" and "override offensive by alice" in reason and "3 stop-loss exits" in reason


async def test_an_unreadable_hot_copy_is_defensive(pipeline: Pipeline) -> None:
    await pipeline.services.hot.set_value(POSTURE_KEY, {"override": {"posture": "reckless"}})
    posture, reason = await session_posture(pipeline)
    assert posture == "defensive" and "does not parse" in reason
    assert await pipeline.posture.sync() is False  # nothing durable to rebuild from: left as it is


async def test_refusals_write_nothing(pipeline: Pipeline) -> None:
    with pytest.raises(LookupError, match="no posture override is in force"):
        await pipeline.posture.clear(reason="nothing", actor="alice")
    with pytest.raises(ValueError, match="not after now"):
        await pipeline.posture.override(Posture.DEFENSIVE, reason="late", actor="alice", until=T0)
    with pytest.raises(ValueError, match="a reason and an actor"):
        await pipeline.posture.override(Posture.DEFENSIVE, reason=" ", actor="alice")
    assert await pipeline.posture.book() == type(await pipeline.posture.book())()
    assert await posture_alerts(pipeline) == [] and await posture_audit(pipeline) == []


async def test_the_durable_record_outlives_the_process(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", checkpoints=False)
    until = T0 + timedelta(hours=2)
    async with await Pipeline.open(settings, clock=SimulatedClock(T0)) as first:
        await first.posture.override(Posture.DEFENSIVE, reason="restart drill", actor="alice", until=until)
    async with await Pipeline.open(settings, clock=SimulatedClock(T0 + timedelta(hours=1))) as second:
        assert (await second.services.hot.get_value(POSTURE_KEY)) is not None  # rebuilt at start
        assert (await session_posture(second))[0] == "defensive"
