"""`aegis backtest` on the bundled real data: the engine's own numbers next to buy-and-hold, a chart, one line
and exit 2 for a bad option; orders fill the bar after their decision and every entry passed the guard."""

from __future__ import annotations

import functools
import json
import math
import os
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from typer.testing import CliRunner, Result

from aegis.cli.backtest import backtest
from aegis.cli.errors import AegisCommand, AegisGroup
from aegis.runtime.backtest_job import BacktestOptions, BacktestReport, buy_and_hold, run_backtest_job
from aegis.settings import Settings
from graphs.deliberation.config import DeliberationConfig
from quant.backtest import BacktestConfig, BacktestResult, GrowthStrategy, OhlcvPanel, run_backtest
from quant.metrics import calendar_years, performance_metrics
from quant.posture import VixThresholds, posture_from_vix
from quant.risk_guard import RiskLimits
from tools.broker.paper import CostModel
from tools.feeds.bundled import load_bundled_daily

SYMBOLS = ("AAPL", "MSFT")
START, END = date(2013, 1, 1), date(2016, 12, 31)
GROWTH_ARGS = ("--strategy", "growth", "--symbols", "AAPL,MSFT", "--start", "2013-01-01", "--end", "2016-12-31")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

cli = typer.Typer(cls=AegisGroup, add_completion=False)


@cli.callback()
def _root() -> None:
    """A group, as in `aegis`, so that a failure goes through the real report (`AegisGroup`)."""


cli.command("backtest", cls=AegisCommand)(backtest)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Default settings (no AEGIS_* variable, no config/ folder) and a scratch working directory."""
    for name in [n for n in os.environ if n.startswith("AEGIS_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def aegis(*args: str) -> Result:
    return CliRunner().invoke(cli, ["backtest", *args], prog_name="aegis")


@functools.cache
def engine_run() -> tuple[BacktestResult, tuple[date, ...], BacktestConfig]:
    """Growth on AAPL, MSFT 2013-2016 straight through the engine, configured from the default settings."""
    settings, data = Settings(), load_bundled_daily(SYMBOLS, START, END)
    config = BacktestConfig(
        initial_cash=settings.starting_cash,
        fee_bps=settings.costs.fee_bps,
        slippage_bps=settings.costs.slippage_bps,
        postures=settings.deliberation.postures,
        limits=settings.deliberation.risk_limits,
    )
    panel = OhlcvPanel(data.symbols, data.open, data.high, data.low, data.close, data.volume)
    return run_backtest(panel, GrowthStrategy(), config, vix=data.vix, dates=data.dates), data.dates, config


@functools.cache
def job(strategy: str, symbols: tuple[str, ...] | None) -> BacktestReport:
    return run_backtest_job(Settings(), BacktestOptions(strategy, symbols, START, END))


def finite_or_none(metrics: Any) -> dict[str, Any]:
    """What `--json` prints for a metrics record: non-finite numbers as null."""
    shown: dict[str, Any] = json.loads(json.dumps(asdict(metrics)).replace("NaN", "null").replace("Infinity", "null"))
    return shown


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    assert len(data) > 10_000, f"{path}: {len(data)} bytes is too small for a two-panel chart"


# ---- the run --------------------------------------------------------------------------------------


def test_growth_on_aapl_msft_reports_the_engines_metrics_next_to_buy_and_hold(isolated: Path) -> None:
    result = aegis(*GROWTH_ARGS, "--json")
    assert result.exit_code == 0, (result.output, result.exception)
    shown = json.loads(result.stdout)
    engine, dates, config = engine_run()

    assert (shown["strategy"], shown["symbols"], shown["bars"]) == ("growth", list(SYMBOLS), len(dates))
    assert (shown["start"], shown["end"]) == (dates[0].isoformat(), dates[-1].isoformat())
    assert shown["metrics"] == asdict(engine.metrics)  # the engine's, unchanged (all finite on this run)
    assert all(math.isfinite(v) for v in (*_numbers(shown["metrics"]), shown["final_equity"]))
    assert shown["final_equity"] == engine.equity[-1]
    assert shown["orders"] == sum(d.order is not None for d in engine.decisions)
    assert sum(shown["fills"].values()) == len(engine.fills)

    # Buy-and-hold, derived here from its definition: half the cash into each symbol at bar 1's open,
    # with the configured slippage and fee, held to the end.
    data = load_bundled_daily(SYMBOLS, START, END)
    entry_cost = data.open[1] * (1 + config.slippage_bps / 1e4) * (1 + config.fee_bps / 1e4)
    units = config.initial_cash / 2 / entry_cost
    benchmark = np.concatenate([[config.initial_cash], (data.close[1:] * units).sum(axis=1)])
    held = np.concatenate([[0.0], np.ones(len(dates) - 1)])
    expected = performance_metrics(benchmark, years=calendar_years(dates[0], dates[-1]), positions=held)
    want = finite_or_none(expected)
    assert shown["buy_and_hold"].pop("trades") == want.pop("trades")  # none: no trade, no win rate
    assert shown["buy_and_hold"] == pytest.approx(want, rel=1e-12)
    assert shown["buy_and_hold_final_equity"] == pytest.approx(benchmark[-1], rel=1e-12)
    assert shown["buy_and_hold"]["total_return"] > 0.5  # AAPL and MSFT both rose a lot over 2013-2016

    assert shown["chart"] == "backtest-growth.png"
    assert_png(isolated / "backtest-growth.png")


def test_the_table_shows_both_columns_the_order_counts_and_where_the_chart_went(isolated: Path) -> None:
    chart = isolated / "charts" / "growth.png"
    chart.parent.mkdir()
    result = aegis(*GROWTH_ARGS, "--chart", str(chart))
    assert result.exit_code == 0, (result.output, result.exception)
    engine, _, _ = engine_run()
    bench = job("growth", SYMBOLS).benchmark_metrics
    out = result.stdout
    assert "buy-and-hold" in out and "total return" in out and "max drawdown" in out and "win rate" in out
    assert f"{engine.metrics.total_return:+.2%}" in out and f"{bench.total_return:+.2%}" in out
    assert f"orders {sum(d.order is not None for d in engine.decisions)}; fills {len(engine.fills)}" in out
    assert f"chart: {chart}" in out
    assert_png(chart)
    assert not (isolated / "backtest-growth.png").exists()


def test_no_chart_writes_no_file(isolated: Path) -> None:
    result = aegis(*GROWTH_ARGS, "--no-chart", "--json")
    assert result.exit_code == 0, (result.output, result.exception)
    assert json.loads(result.stdout)["chart"] is None
    assert not list(isolated.glob("*.png"))


# ---- what the engine guarantees, seen through the job ----------------------------------------------


@pytest.mark.parametrize(("strategy", "symbols"), [("growth", SYMBOLS), ("value", None)])
def test_every_order_fills_on_a_bar_after_its_decision(strategy: str, symbols: tuple[str, ...] | None) -> None:
    fills = job(strategy, symbols).result.fills
    assert fills
    for fill in fills:
        if fill.reason in ("entry", "exit"):
            assert fill.bar == fill.decided_at + 1, fill
        else:  # a bracket: armed from the bar after its entry, which filled the bar after its decision
            assert fill.bar >= fill.decided_at + 2, fill


@pytest.mark.parametrize(("strategy", "symbols"), [("growth", SYMBOLS), ("value", None)])
def test_every_entry_passed_the_guard_and_every_rejection_is_recorded(
    strategy: str, symbols: tuple[str, ...] | None
) -> None:
    report = job(strategy, symbols)
    result = report.result
    data = load_bundled_daily(symbols, START, END)
    placed = {(d.bar, d.proposal.symbol): d for d in result.decisions if d.order is not None}
    for fill in (f for f in result.fills if f.reason == "entry"):
        decision = placed[(fill.decided_at, fill.symbol)]
        assert decision.rejected_by is None and decision.order is not None
        assert (decision.order.side, decision.order.quantity) == ("buy", fill.quantity)
        assert decision.posture == posture_from_vix(float(data.vix[decision.bar]))
        assert decision.order.stop_loss_price is not None and decision.order.take_profit_price is not None
    for rejected in result.rejections:
        assert rejected.rejected_by in ("guard", "engine") and rejected.rejected_because
        assert (rejected.bar, rejected.proposal.symbol) not in placed
    assert sum(report.activity.rejections.values()) == len(result.rejections)
    assert sum(report.activity.expired.values()) == len(result.unfilled)
    assert report.activity.orders == len(placed)
    if symbols is None:  # twelve symbols and a cap of two to five positions: the guard must have said no
        assert result.rejections
        assert any(reason.startswith("guard: ") for reason in report.activity.rejections)


def test_the_settings_configure_the_backtest_like_the_live_account_and_guard() -> None:
    limits = RiskLimits(max_concentration_pct=2.0)
    settings = Settings(
        starting_cash=50_000.0,
        costs=CostModel(fee_bps=10.0, slippage_bps=20.0),
        deliberation=DeliberationConfig(risk_limits=limits),
    )
    report = run_backtest_job(settings, BacktestOptions("growth", SYMBOLS, START, END))
    config = report.config
    assert (config.initial_cash, config.fee_bps, config.slippage_bps) == (50_000.0, 10.0, 20.0)
    assert config.limits == limits and dict(config.postures) == settings.deliberation.postures
    assert report.result.equity[0] == report.benchmark.equity[0] == 50_000.0
    for decision in report.result.decisions:
        if decision.order is not None and decision.order.side == "buy":
            assert decision.order.notional <= 0.02 * report.result.equity[decision.bar] + 1e-9


def test_vix_thresholds_the_engine_cannot_apply_are_refused_not_ignored() -> None:
    settings = Settings(deliberation=DeliberationConfig(vix_thresholds=VixThresholds(offensive_below=18.0)))
    with pytest.raises(ValueError, match="vix_thresholds"):
        run_backtest_job(settings, BacktestOptions("growth", SYMBOLS, START, END))


def test_buy_and_hold_buys_at_the_second_bars_open_and_marks_a_missing_bar_at_the_last_close() -> None:
    nan = math.nan
    panel = OhlcvPanel(
        ("A", "B"),
        open=np.array([[10.0, 20.0], [11.0, 25.0], [12.0, nan], [13.0, 30.0]]),
        high=np.array([[10.0, 20.0], [11.0, 25.0], [12.0, nan], [13.0, 30.0]]),
        low=np.array([[10.0, 20.0], [11.0, 25.0], [12.0, nan], [13.0, 30.0]]),
        close=np.array([[10.0, 20.0], [11.0, 25.0], [12.0, nan], [13.0, 30.0]]),
        volume=np.ones((4, 2)),
    )
    bh = buy_and_hold(panel, 1_000.0, fee_bps=0.0, slippage_bps=0.0)
    np.testing.assert_allclose(bh.positions[1:], [[500 / 11, 500 / 25]] * 3)
    assert not bh.positions[0].any()
    np.testing.assert_allclose(bh.equity, [1_000.0, 1_000.0, 500 / 11 * 12 + 500, 500 / 11 * 13 + 600])
    costly = buy_and_hold(panel, 1_000.0, fee_bps=10.0, slippage_bps=20.0)
    np.testing.assert_allclose(costly.positions[1, 0], 500 / (11 * 1.002 * 1.001))


# ---- bad input: one line, exit 2 --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--strategy", "momentum"), ["--strategy", "unknown strategy 'momentum'; known: growth, value"]),
        (("--strategy", "growth", "--symbols", "AAPL,FOO"), ["--symbols", "unknown symbol 'FOO'", "AAPL, AMZN"]),
        (("--strategy", "growth", "--symbols", " , "), ["--symbols", "no symbol"]),
        (
            ("--strategy", "growth", "--start", "2015-01-01", "--end", "2014-01-01"),
            ["start 2015-01-01 is after end 2014-01-01"],
        ),
        (
            ("--strategy", "growth", "--start", "2013-01-01", "--end", "2013-02-28"),
            ["40 trading days", "too few for growth", "at least 51"],
        ),
        (("--strategy", "value", "--start", "2030-01-01"), ["no trading days", "the bundle covers 2012-09-04"]),
        (("--strategy", "growth", "--start", "2013-02-30"), ["--start", "2013-02-30"]),
        (("--symbols", "AAPL"), ["'--strategy' / '--bots'", "give --strategy growth|value, or --bots"]),
        (("--strategy", "growth", "--chart", "a.png", "--no-chart"), ["not both"]),
    ],
)
def test_a_bad_option_is_one_line_and_exit_2(isolated: Path, args: tuple[str, ...], expected: list[str]) -> None:
    result = aegis(*args)
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("aegis backtest: ")
    assert "Traceback" not in result.output
    for text in expected:
        assert text in lines[0], lines[0]
    assert not list(isolated.glob("*.png"))


def _numbers(values: dict[str, Any]) -> list[float]:
    return [x for v in values.values() for x in (_numbers(v) if isinstance(v, dict) else [v])]
