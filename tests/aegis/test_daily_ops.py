"""The daily operations on the feed's clock over real AAPL days: each day closed with its report, archive and
readiness; an order that missed its session cancelled; a failed pre-open check and a latency breach alerted;
a halt awaiting a reset makes the next day not ready."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path

import pytest

from aegis.pipeline import Pipeline
from aegis.runtime.daily_ops import DAY_KEY, REPORTS_FOLDER
from aegis.runtime.day_checks import pre_open_checks
from aegis.runtime.operations_config import OperationsConfig
from aegis.settings import Settings
from graphs.deliberation.config import DeliberationConfig
from state.alerts import AlertLevel
from state.clock import SimulatedClock
from state.orders import OrderRequest, OrderStatus, OrderType, Side
from tests.conftest import bundled_bars

BARS = bundled_bars()[100:106]  # six real AAPL trading days


async def _open(tmp_path: Path, **operations: object) -> Pipeline:
    config = OperationsConfig.model_validate(operations)
    settings = Settings(data_dir=tmp_path, operations=config)
    return await Pipeline.open(settings, clock=SimulatedClock(BARS[0].time - timedelta(hours=8)))


async def test_each_day_is_closed_with_its_report_archive_and_readiness(tmp_path: Path) -> None:
    pipeline = await _open(tmp_path, chart_every_s=0)
    try:
        feed = pipeline.market_feed()
        for bar in BARS[:2]:
            await feed.bar("AAPL", bar)
        missed = OrderRequest(event_id="msft-1", symbol="MSFT", side=Side.BUY, quantity=1,
                              order_type=OrderType.MARKET, created_at=BARS[1].time)  # fmt: skip
        await pipeline.paper_broker.submit(missed)  # no MSFT bar comes: it misses the next day's session
        for bar in BARS[2:]:
            await feed.bar("AAPL", bar)
        await feed.finish()

        reports = tmp_path / REPORTS_FOLDER
        days = [bar.time.date() for bar in BARS]
        assert sorted(p.name for p in reports.glob("*.md")) == [f"{d}.md" for d in days]
        charts = sorted(p.name for p in reports.glob("*.png"))
        assert charts == [f"{d}.png" for d in days]  # chart_every_s 0: every day
        text = (reports / f"{days[2]}.md").read_text()
        assert f"# AEGIS daily report {days[2]}" in text and "| ready for the next day | yes |" in text
        assert "before the open: ok key: rules needs none" in text

        day_two = await pipeline.services.store.get_value(DAY_KEY.format(day=days[2]))
        assert day_two is not None and day_two[0]["ready"] is True and day_two[0]["cancelled"] == ["ord-msft-1"]
        day_one = await pipeline.services.store.get_value(DAY_KEY.format(day=days[1]))
        assert day_one is not None and day_one[0]["cancelled"] == []  # placed at day 1's close: for day 2
        order = await pipeline.services.store.get_order_for_event("msft-1")
        assert order is not None and order.status is OrderStatus.CANCELLED
        assert "| orders cancelled after the close | 1 |" in text
        with gzip.open(reports / f"{days[2]}.records.jsonl.gz", "rt") as archive:
            rows = [json.loads(line) for line in archive]
        assert all(row["record"] in {"decision", "fill", "alert"} for row in rows)
        audit = [a for a in await pipeline.services.store.audit_log(limit=100) if a["action"] == "day_closed"]
        assert len(audit) == len(days)
    finally:
        await pipeline.close()


async def test_a_missing_key_fails_the_pre_open_check_and_the_day_is_not_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    roles = {r: {**c.model_dump(), "provider": "deepseek"} for r, c in DeliberationConfig().roles.items()}
    settings = Settings(data_dir=tmp_path, deliberation=DeliberationConfig.model_validate({"roles": roles}))
    lines = pre_open_checks(settings, tmp_path / REPORTS_FOLDER)
    assert "key missing: DEEPSEEK_API_KEY for deepseek, which a role uses" in lines
    pipeline = await Pipeline.open(settings, clock=SimulatedClock(BARS[0].time - timedelta(hours=8)))
    try:
        feed = pipeline.market_feed()
        for bar in BARS[:2]:
            await feed.bar("AAPL", bar)
        warnings = [a for a in await pipeline.services.store.alerts() if a.kind == "pre_open_check"]
        assert warnings and {a.level for a in warnings} == {AlertLevel.WARNING}
        held = await pipeline.services.store.get_value(DAY_KEY.format(day=BARS[0].time.date()))
        assert held is not None and held[0]["ready"] is False
        assert held[0]["readiness"] == [
            "before the open: key missing: DEEPSEEK_API_KEY for deepseek, which a role uses"
        ]
    finally:
        await pipeline.close()


async def test_a_halt_awaiting_a_reset_makes_the_next_day_not_ready(tmp_path: Path) -> None:
    pipeline = await _open(tmp_path, chart_every_s=3600)
    try:
        feed = pipeline.market_feed()
        await feed.bar("AAPL", BARS[0])
        await pipeline.trading.halt(reason="drill", actor="test", needs_reset=True)
        await feed.bar("AAPL", BARS[1])
        held = await pipeline.services.store.get_value(DAY_KEY.format(day=BARS[0].time.date()))
        assert held is not None and held[0]["ready"] is False
        assert "halted until a reset" in held[0]["readiness"][0]
        assert any(a.kind == "not_ready" for a in await pipeline.services.store.alerts())
        charts = [p.name for p in (tmp_path / REPORTS_FOLDER).glob("*.png")]
        assert charts == [f"{BARS[0].time.date()}.png"]  # the first; the next not within the hour
    finally:
        await pipeline.close()
