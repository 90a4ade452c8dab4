"""The issue's case: a run whose VIX stops before its bars (as the bundled 2012-2017 VIX did for a 2018-2022
run) must not sit in the posture of the last VIX. Past `max_vix_age_days` every day is defensive, no entry is
ordered, the decisions record the VIX's age, and one alert goes out for the whole stale stretch."""

from __future__ import annotations

import bisect
import dataclasses
from datetime import date, timedelta
from pathlib import Path

import pytest

from aegis import Settings
from aegis.runtime.replay_job import DayProgress, ReplayOptions, run_replay
from state.alerts import Alert
from state.orders import Side
from state.store.sqlite import SqliteStore
from tools.feeds.bundled import DailyPanel
from tools.feeds.datasets import bundled_dataset

LAST_VIX = date(2017, 4, 28)  # a Friday; the bars go on to the end of June
LIMIT_DAYS = 5


def vix_ending(panel: DailyPanel, last: date) -> DailyPanel:
    """The panel with its VIX carried forward from `last` on, as the loader does when the VIX file ends there."""
    cut = bisect.bisect_right(panel.dates, last)
    vix = panel.vix.copy()
    vix[cut:] = panel.vix[cut - 1]
    as_of = tuple(day if i < cut else panel.dates[cut - 1] for i, day in enumerate(panel.dates))
    return DailyPanel(panel.dates, panel.symbols, panel.open, panel.high, panel.low, panel.close, panel.volume,
                      vix, vix_as_of=as_of)  # fmt: skip


@pytest.mark.slow
async def test_a_run_past_the_end_of_its_vix_is_defensive_enters_nothing_and_alerts_once(tmp_path: Path) -> None:
    bundled = bundled_dataset()
    cut = dataclasses.replace(bundled, panel=vix_ending(bundled.panel, LAST_VIX))  # the bundled bars, a VIX that ends
    days: list[DayProgress] = []
    alerts: list[Alert] = []
    options = ReplayOptions(symbols=("AAPL", "MSFT", "JPM"), start=date(2017, 1, 3), end=date(2017, 6, 30),
                            days_per_second=0, dataset=cut)  # fmt: skip
    settings = Settings(data_dir=tmp_path)
    assert settings.deliberation.max_vix_age_days == LIMIT_DAYS
    await run_replay(settings, options, on_day=days.append, on_alert=alerts.append)

    stale_from = LAST_VIX + timedelta(days=LIMIT_DAYS + 1)
    before = [d for d in days if d.day <= LAST_VIX + timedelta(days=LIMIT_DAYS)]
    after = [d for d in days if d.day >= stale_from]
    assert after and {d.posture for d in after} == {"defensive"}
    assert "offensive" in {d.posture for d in before}, "the 2017 VIX (10-13) is offensive while fresh"

    stale_alerts = [a for a in alerts if a.kind == "stale_input"]
    assert [a.dedup_key for a in stale_alerts] == ["stale_input:vix:2017-04-28T20:00:00+00:00"]
    assert stale_alerts[0].detail["limit"] == LIMIT_DAYS and stale_alerts[0].detail["age"] > LIMIT_DAYS

    async with SqliteStore(tmp_path / "records.sqlite") as store:
        decisions = await store.decisions()
    late = [d for d in decisions if d.decided_at.date() >= stale_from and d.event_type == "SIGNAL_GENERATED"]
    assert late, "the screen keeps producing events after the VIX ends"
    for decision in late:
        assert decision.posture == "defensive"
        [stale] = decision.stale_inputs
        assert stale.input == "vix" and stale.as_of is not None and stale.as_of.date() == LAST_VIX
        assert stale.age == pytest.approx((decision.decided_at - stale.as_of).total_seconds() / 86_400)
        assert decision.order is None or decision.order.request.side is Side.SELL
