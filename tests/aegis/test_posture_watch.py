"""The posture on the feed's clock: the evaluation every 30 min at the first VIX reading due, an override
with an end seen by the sessions and ended as the feed's clock passes it, each change alerted once; the hot
copy rebuilt after Redis lost it; the rules' SET_POSTURE acting through the control."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import redis.asyncio as aioredis

from aegis import Pipeline, Settings
from quant.posture import Posture, RegimeThresholds, evaluate_posture
from quant.regime import market_regime
from state.clock import SimulatedClock
from state.context_loader import POSTURE_KEY
from state.decisions import Outcome
from state.posture import PostureSource
from tests.conftest import SESSION_DAY, SYMBOL, PipelineFactory, bundled_bars, signal
from tools.ops.posture import ALERT_KIND

BARS = bundled_bars()
T0 = BARS[SESSION_DAY].time


def clock_of(pipeline: Pipeline) -> SimulatedClock:
    clock = pipeline.services.clock
    assert isinstance(clock, SimulatedClock)
    return clock


async def posture_alerts(pipeline: Pipeline) -> list[str]:
    return [a.message for a in reversed(await pipeline.services.store.alerts(limit=1000)) if a.kind == ALERT_KIND]


async def test_an_override_with_an_end_on_the_feed_s_clock(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline(vix=14.0)
    feed = pipeline.market_feed()
    await feed.vix(20.0)  # the first VIX reading: evaluated at once (guerrilla)
    first = await pipeline.submit(signal("e-1", BARS[SESSION_DAY]))
    assert first.posture == "guerrilla" and first.posture_reason is not None
    assert first.posture_reason.startswith(f"evaluated at {T0.isoformat()}: VIX 20.00: guerrilla")

    until = T0 + timedelta(minutes=45)
    await pipeline.posture.override(Posture.DEFENSIVE, reason="CPI at 08:30", actor="alice", until=until)
    clock_of(pipeline).set(T0 + timedelta(minutes=5))
    second = await pipeline.submit(signal("e-2", BARS[SESSION_DAY]))
    assert second.posture == "defensive"
    assert second.posture_reason == f"override defensive by alice until {until.isoformat()}: CPI at 08:30"

    await feed.advance(T0 + timedelta(minutes=30))
    await feed.vix(12.0)  # due: evaluated offensive underneath; the override stays in force
    assert (await pipeline.posture.current()).source is PostureSource.OVERRIDE
    await feed.advance(until)  # the feed's clock passes the end: the override is lifted
    book = await pipeline.posture.book()
    assert book.override is None and book.evaluated is not None and book.evaluated.posture is Posture.OFFENSIVE
    third = await pipeline.submit(signal("e-3", BARS[SESSION_DAY]))
    assert third.posture == "offensive" and third.posture_reason is not None
    assert third.posture_reason.startswith(f"evaluated at {(T0 + timedelta(minutes=30)).isoformat()}")

    assert await posture_alerts(pipeline) == [  # the first evaluation agreed with the VIX of the moment: no change
        "posture guerrilla (evaluated) -> defensive (override): CPI at 08:30",
        f"posture defensive (override) -> offensive (evaluated): override ended at {until.isoformat()} "
        "(CPI at 08:30, by alice)",
    ]  # once each: the sessions' own posture alerts leave the control's changes to the control
    assert [d.outcome for d in (first, second, third)] != [Outcome.REJECTED] * 3


async def test_the_evaluation_runs_every_30_minutes_at_the_first_vix_due(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline(vix=14.0)
    feed = pipeline.market_feed()
    seen: list[str] = []
    for minutes, vix in [(0, 14.0), (10, 30.0), (29.99, 30.0), (30, 30.0), (45, 12.0), (60, 12.0), (61, 22.0)]:
        await feed.advance(T0 + timedelta(minutes=minutes))
        await feed.vix(vix)
        evaluated = (await pipeline.posture.book()).evaluated
        assert evaluated is not None
        seen.append(f"{(evaluated.at - T0).total_seconds() / 60:g} {evaluated.posture}")
    assert seen == ["0 offensive", "0 offensive", "0 offensive", "30 defensive", "30 defensive", "60 offensive",
                    "60 offensive"]  # fmt: skip


async def test_the_evaluation_reads_the_market_basket_from_the_hot_bars(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline(vix=14.0)
    feed = pipeline.market_feed(market=[SYMBOL])
    await feed.vix(14.0)
    closes = np.array([[b.close] for b in BARS[SESSION_DAY - 119 : SESSION_DAY + 1]])
    expected = evaluate_posture(market_regime(closes, 14.0), RegimeThresholds())
    evaluated = (await pipeline.posture.book()).evaluated
    assert evaluated is not None
    assert (evaluated.posture, evaluated.reason) == (expected.posture, expected.reason)
    assert "volatility unknown" not in evaluated.reason and "trend unknown" not in evaluated.reason


@pytest.mark.services
async def test_the_hot_copy_is_rebuilt_after_redis_lost_it(tmp_path: Path, redis_namespace: tuple[str, str]) -> None:
    url, prefix = redis_namespace
    settings = Settings(data_dir=tmp_path / "data", checkpoints=False, redis_url=url, redis_prefix=prefix)
    until = T0 + timedelta(hours=2)
    async with await Pipeline.open(settings, clock=SimulatedClock(T0)) as pipeline:
        feed = pipeline.market_feed()
        await feed.advance(T0)
        await pipeline.posture.override(Posture.DEFENSIVE, reason="drill", actor="alice", until=until)
        raw = pipeline.services.hot.hot
        assert (await raw.get_value(POSTURE_KEY)) is not None

        client = aioredis.Redis.from_url(url)  # another client empties this test's keys (a Redis restart)
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        assert keys and await client.delete(*keys) == len(keys)
        await client.aclose()
        assert await raw.get_value(POSTURE_KEY) is None
        context = await pipeline.services.loader.load(SYMBOL)  # meanwhile: the durable copy
        assert str(context.posture) == "defensive" and f"{POSTURE_KEY}: durable" in context.source

        await feed.advance(T0 + timedelta(minutes=1))  # the next step of the feed's clock rebuilds it
        rebuilt = await raw.get_value(POSTURE_KEY)
        assert rebuilt == (await pipeline.posture.book()).model_dump(mode="json")
        assert POSTURE_KEY not in (await pipeline.services.loader.load(SYMBOL)).source

    other = f"{prefix}:restart-{uuid.uuid4().hex[:6]}"  # a new process on a Redis that never held it
    restarted = settings.model_copy(update={"redis_prefix": other})
    async with await Pipeline.open(restarted, clock=SimulatedClock(T0 + timedelta(hours=1))) as pipeline:
        assert (await pipeline.services.hot.hot.get_value(POSTURE_KEY)) is not None
        assert str((await pipeline.services.loader.load(SYMBOL)).posture) == "defensive"


def anomaly(event_id: str, at: datetime) -> dict[str, object]:
    return {
        "id": event_id,
        "type": "ANOMALY_DETECTED",
        "source": "test",
        "symbols": [SYMBOL],
        "event_time": at.isoformat(),
        "payload": {"rule": "flash_crash", "severity": "CRITICAL", "evidence": {"move_pct": -7.5}},
    }


async def test_the_rules_set_posture_action_overrides_through_the_control(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline(vix=14.0)
    rule = {
        "rule_id": "crash-goes-defensive",
        "description": "a critical market anomaly: defensive for an hour",
        "event_type": "ANOMALY_DETECTED",
        "conditions": [{"field": "payload.severity", "op": "==", "value": "CRITICAL"}],
        "actions": [{"kind": "set_posture", "params": {"posture": "defensive", "minutes": 60}}],
        "priority": 999,
    }
    await pipeline.rules.add(rule, actor="alice", reason="test")
    decision = await pipeline.submit(anomaly("a-1", T0))
    assert decision.outcome is Outcome.APPLIED, decision.reason
    current = await pipeline.posture.current()
    assert (current.posture, current.actor, current.until) == (Posture.DEFENSIVE, "rules", T0 + timedelta(hours=1))
    assert "crash-goes-defensive" in current.reason
