"""The escalation sweep over a long run: every open alert still climbs to its last step, and each sweep reads
only the alerts that can still climb, not every unacknowledged alert ever raised."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from aegis import Pipeline, Settings
from state.alerts import Alert, AlertLevel
from state.clock import SimulatedClock
from tests.conftest import SESSION_DAY, bundled_bars
from tools.notify.escalation import escalation_step

T0 = bundled_bars()[SESSION_DAY].time
DAYS = 40


@pytest.fixture
async def pipeline(tmp_path: Path) -> AsyncIterator[Pipeline]:
    opened = await Pipeline.open(Settings(data_dir=tmp_path / "data", checkpoints=False), clock=SimulatedClock(T0))
    try:
        yield opened
    finally:
        await opened.close()


async def test_a_daily_unacknowledged_alert_climbs_to_its_last_step_while_sweeps_read_a_bounded_few(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, alerting, clock = pipeline.services.store, pipeline.alerting, pipeline.services.clock
    assert isinstance(clock, SimulatedClock)
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
    store, alerting, clock = pipeline.services.store, pipeline.alerting, pipeline.services.clock
    assert isinstance(clock, SimulatedClock)
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
