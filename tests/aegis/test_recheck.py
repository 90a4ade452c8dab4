"""The recheck gate of time-driven polls: a read when the feed's clock reaches the next change, after this
process wrote, after a moment of wall time, and never otherwise; and the polls that use it (the trading
states' ends, a posture override's end, the approvals sweep, the limits copy, the escalation sweep) still act
at once on the feed's clock. The escalation sweep over a long run reads only the alerts that can still climb."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aegis import Pipeline, Settings
from aegis.runtime.posture_watch import PostureWatch
from aegis.runtime.recheck import Recheck
from quant.posture import Posture
from state.access import Access
from state.alerts import Alert, AlertLevel
from state.approvals import Approval, ApprovalKind, ApprovalStatus, approval_id
from state.clock import SimulatedClock
from state.context_loader import LIMITS_KEY
from state.store.base import AuditEntry
from state.trading import TradingState, TradingStatus
from tests.conftest import SESSION_DAY, bundled_bars
from tools.notify.escalation import escalation_step

T0 = bundled_bars()[SESSION_DAY].time
DAYS = 40  # the escalation sweep's run: an unacknowledged alert a day


class Wall:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_recheck_reads_at_the_next_change_after_a_write_or_after_a_moment_of_wall_time() -> None:
    wall = Wall()
    gate = Recheck(every_s=1.0, wall=wall)
    now = datetime(2024, 1, 2, 15, tzinfo=UTC)
    assert gate.needed(now)  # never read yet
    gate.read(now + timedelta(minutes=10), revision=3)
    assert not gate.needed(now + timedelta(minutes=9, seconds=59), revision=3)
    assert gate.needed(now + timedelta(minutes=10), revision=3)  # the change is due: at it, not after it
    assert gate.needed(now, revision=4)  # this process wrote since
    wall.now += 0.999
    assert not gate.needed(now, revision=3)
    wall.now += 0.001
    assert gate.needed(now, revision=3)  # another process may have written
    gate.read(None, revision=3)
    assert not gate.needed(now + timedelta(days=10_000), revision=3)  # nothing changes by time alone


@pytest.fixture
async def pipeline(tmp_path: Path) -> AsyncIterator[Pipeline]:
    opened = await Pipeline.open(Settings(data_dir=tmp_path / "data", checkpoints=False), clock=SimulatedClock(T0))
    try:
        yield opened
    finally:
        await opened.close()


def clock_of(pipeline: Pipeline) -> SimulatedClock:
    clock = pipeline.services.clock
    assert isinstance(clock, SimulatedClock)
    return clock


def counting(monkeypatch: pytest.MonkeyPatch, target: Any, name: str) -> list[int]:
    calls: list[int] = []
    original = getattr(target, name)

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return await original(*args, **kwargs)

    monkeypatch.setattr(target, name, counted)
    return calls


async def test_a_cooldown_ends_on_the_feeds_clock_with_no_read_of_the_states_between(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = clock_of(pipeline)
    await pipeline.monitor.tick()
    await pipeline.trading.reduce(
        reason="cooldown", actor="tier:market", scope="AAPL", until=T0 + timedelta(minutes=10)
    )
    reads = counting(monkeypatch, pipeline.services.store, "trading_states")
    await pipeline.monitor.tick()  # this process wrote: read once, learn the end
    assert len(reads) == 1
    for minute in range(1, 10):
        clock.set(T0 + timedelta(minutes=minute))
        await pipeline.monitor.tick()
    assert len(reads) == 1  # nothing could have ended: the durable states were not read again
    assert (await pipeline.trading.states()).effective("AAPL").state is TradingState.REDUCING
    clock.set(T0 + timedelta(minutes=10))
    await pipeline.monitor.tick()
    assert (await pipeline.trading.states()).effective("AAPL").state is TradingState.ACTIVE


async def test_a_state_another_process_writes_is_lifted_after_a_moment_of_wall_time(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = clock_of(pipeline)
    await pipeline.monitor.tick()
    elsewhere = TradingStatus(
        scope="MSFT", state=TradingState.REDUCING, reason="cooldown", actor="tier:market", since=T0,
        until=T0 + timedelta(minutes=1),
    )  # fmt: skip
    await pipeline.services.store.set_trading_state(elsewhere, AuditEntry("tier:market", "trading_state", {}))
    clock.set(T0 + timedelta(minutes=2))
    monkeypatch.setattr("aegis.runtime.recheck.RECHECK_S", 0.0)  # the moment of wall time has passed
    await pipeline.monitor.tick()
    assert (await pipeline.trading.states()).effective("MSFT").state is TradingState.ACTIVE


async def test_a_posture_override_ends_at_its_time_with_no_read_of_the_book_between(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = clock_of(pipeline)
    settings = pipeline.settings
    watch = PostureWatch(pipeline.posture, pipeline.services.hot, clock, settings.posture,
                         settings.deliberation.vix_thresholds)  # fmt: skip
    until = T0 + timedelta(hours=1)
    await pipeline.posture.override(Posture.DEFENSIVE, reason="drill", actor="ops", until=until)
    reads = counting(monkeypatch, pipeline.posture, "book")
    await watch.time_passed()
    for minute in range(1, 60):
        clock.set(T0 + timedelta(minutes=minute))
        await watch.time_passed()
    assert len(reads) == 1
    assert (await pipeline.posture.book()).override is not None
    clock.set(until)
    await watch.time_passed()
    assert (await pipeline.posture.book()).override is None


def approval(request_id: str, timeout_s: float) -> Approval:
    return Approval(
        approval_id=approval_id(ApprovalKind.WORKFLOW, request_id), kind=ApprovalKind.WORKFLOW, subject_id=request_id,
        requested_by="ana", summary="a plan", created_at=T0, expires_at=T0 + timedelta(seconds=timeout_s),
    )  # fmt: skip


async def test_the_feeds_approvals_sweep_expires_on_time_and_reads_nothing_until_then(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = pipeline.market_feed()
    await pipeline.approval_control.open(approval("r1", timeout_s=600))
    reads = counting(monkeypatch, pipeline.services.store, "approvals")
    for second in range(0, 600, 30):
        await feed.advance(T0 + timedelta(seconds=second))
    assert len(reads) == 1  # read once after the opening; nothing could run out before 600 s
    assert (await pipeline.approval_control.get("workflow:r1")).status is ApprovalStatus.PENDING
    await feed.advance(T0 + timedelta(seconds=600))
    assert (await pipeline.approval_control.get("workflow:r1")).status is ApprovalStatus.EXPIRED


async def test_the_feed_rebuilds_a_lost_limits_copy_after_a_moment_of_wall_time_and_not_every_step(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = pipeline.market_feed()
    await feed.advance(T0)
    await pipeline.services.hot.hot.set_value(LIMITS_KEY, {"lost": True})  # a restarted Redis, another writer
    monkeypatch.setattr("aegis.runtime.recheck.RECHECK_S", 3600.0)
    await feed.advance(T0 + timedelta(minutes=1))
    assert await pipeline.services.hot.hot.get_value(LIMITS_KEY) == {"lost": True}  # not read at every step
    monkeypatch.setattr("aegis.runtime.recheck.RECHECK_S", 0.0)
    await feed.advance(T0 + timedelta(minutes=2))
    assert await pipeline.services.hot.hot.get_value(LIMITS_KEY) != {"lost": True}
    await pipeline.limits.set("max_concentration_pct", 5.0, actor="ops", reason="tighter", role=Access.TRADE)
    monkeypatch.setattr("aegis.runtime.recheck.RECHECK_S", 3600.0)
    await pipeline.services.hot.hot.set_value(LIMITS_KEY, {"lost": True})
    await feed.advance(T0 + timedelta(minutes=3))  # written here since the last read: read at once
    assert await pipeline.services.hot.hot.get_value(LIMITS_KEY) != {"lost": True}


async def test_a_daily_unacknowledged_alert_climbs_to_its_last_step_while_sweeps_read_a_bounded_few(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, alerting, clock = pipeline.services.store, pipeline.alerting, clock_of(pipeline)
    minutes = pipeline.settings.notify.escalation.minutes
    read_sizes: list[int] = []
    read = store.alerts

    async def counted(**kwargs: object) -> list[Alert]:
        alerts = await read(**kwargs)  # type: ignore[arg-type]
        read_sizes.append(len(alerts))
        return alerts

    monkeypatch.setattr(store, "alerts", counted)
    # A day: an alert raised, then sweeps at minutes that straddle each threshold (one just before the last).
    offsets = [0.0, 4.0, 5.5, 9.0, 14.9, 15.1, 60.0]
    for day in range(DAYS):
        start = T0 + timedelta(days=day)
        clock.set(start)
        await alerting.raise_alert(AlertLevel.WARNING, f"drill-{day}", "unacknowledged all along")
        for offset in offsets[1:]:
            clock.set(start + timedelta(minutes=offset))
            await alerting.escalate()
    clock.set(T0 + timedelta(days=DAYS))
    await alerting.escalate()

    monkeypatch.setattr(store, "alerts", read)
    open_alerts = await store.alerts(unacknowledged_only=True, limit=10_000)
    assert len(open_alerts) == DAYS
    final = len(minutes)
    assert {a.escalation_step for a in open_alerts} == {final}
    now = clock.now()
    assert all(a.escalation_step == escalation_step(a.raised_at, now, minutes) for a in open_alerts)
    # Each sweep parsed at most the alerts of the last day (two straddle a day boundary), never the whole run.
    assert read_sizes, "the sweeps must read the store"
    assert max(read_sizes[1:]) <= 2 < DAYS


async def test_an_alert_stored_by_another_process_is_escalated(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("aegis.runtime.recheck.RECHECK_S", 0.0)  # no wall-clock wait before reading again
    store, alerting, clock = pipeline.services.store, pipeline.alerting, clock_of(pipeline)
    clock.set(T0)
    await alerting.escalate()  # a first sweep, with nothing open
    raised: datetime = T0 + timedelta(minutes=1)
    other = Alert(
        alert_id="alert-elsewhere",
        dedup_key="elsewhere",
        level=AlertLevel.CRITICAL,
        kind="elsewhere",
        message="raised by another worker",
        raised_at=raised,
    )
    await store.save_alert(other)
    clock.set(raised + timedelta(minutes=20))
    escalated = await alerting.escalate()
    assert [(a.alert_id, a.escalation_step) for a in escalated] == [("alert-elsewhere", 3)]
