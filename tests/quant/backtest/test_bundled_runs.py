"""Both reference strategies on the bundled data (12 US symbols, 2013-01-02..2017-09-01), VIX postures.

The runs must respect the guard on every executed order, fill only on the bar after a decision, keep a
book whose equity is its cash plus holdings, report the metrics of their own equity curve, and run fast.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from quant.backtest import (
    HEALTHY_DENSITY,
    BacktestResult,
    GrowthStrategy,
    OhlcvPanel,
    Strategy,
    ValueStrategy,
    run_backtest,
    signal_quality,
)
from quant.backtest.engine import BacktestConfig
from quant.metrics import calendar_years, performance_metrics
from quant.posture import DEFAULT_POSTURES, posture_from_vix
from tests.quant.backtest.support import bundled
from tools.feeds.bundled import load_bundled_daily

STRATEGIES: dict[str, Strategy] = {"growth": GrowthStrategy(), "value": ValueStrategy()}
CONFIG = BacktestConfig()  # 100,000 cash, 1 bp fees, 5 bps slippage, default postures and limits


@functools.cache
def _run(name: str) -> BacktestResult:
    data = bundled()
    return run_backtest(data.panel, STRATEGIES[name], CONFIG, vix=data.vix, dates=data.dates)


def _summary(name: str) -> str:
    run, data = _run(name), bundled()
    quality = signal_quality(STRATEGIES[name].features(data.panel)["entry"], data.panel.close, horizon=5)
    m, t = run.metrics, run.metrics.trades
    return (
        f"{name}: signal {quality.describe()} | total return {m.total_return:+.2%}, CAGR {m.cagr:+.2%}, "
        f"vol {m.annual_volatility:.2%}, Sharpe {m.sharpe:.2f}, Sortino {m.sortino:.2f}, "
        f"max DD {m.max_drawdown:.2%}, Calmar {m.calmar:.2f}, exposure {m.exposure:.1%}, "
        f"{t.trades} trades, win rate {t.win_rate:.1%}, profit factor {t.profit_factor:.2f}, "
        f"avg win {t.average_win:.2f}, avg loss {t.average_loss:.2f}, {len(run.rejections)} guard rejections"
    )


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_both_strategies_run_on_the_bundled_data_and_report_their_signal_quality(name: str) -> None:
    data, run = bundled(), _run(name)
    quality = signal_quality(STRATEGIES[name].features(data.panel)["entry"], data.panel.close, horizon=5)
    summary = _summary(name)
    assert len(data.panel.symbols) == 12 and data.panel.bars == 1177, summary
    # A signal, not noise: it fires, but no more often than the top of the healthy band.
    assert 0.0 < quality.density <= HEALTHY_DENSITY[1], summary
    assert run.metrics.trades.trades > 20, summary
    assert np.isfinite([run.metrics.cagr, run.metrics.sharpe, run.metrics.max_drawdown]).all(), summary


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_executed_order_respects_the_guard_limits_of_its_bar(name: str) -> None:
    run, data = _run(name), bundled()
    limits = CONFIG.limits
    approved_buys: dict[int, int] = {}
    for decision in run.decisions:
        order = decision.order
        assert decision.posture == posture_from_vix(float(data.vix[decision.bar]))
        if order is None or order.side != "buy":
            continue
        params = DEFAULT_POSTURES[decision.posture]
        equity = run.equity[decision.bar]
        day_start = run.equity[decision.bar - 1] if decision.bar else CONFIG.initial_cash
        assert order.notional <= params.entry_size_pct / 100 * equity * (1 + 1e-12)
        assert order.notional <= limits.max_concentration_pct / 100 * equity
        assert order.stop_loss_price is not None and order.take_profit_price is not None
        assert 1 - order.stop_loss_price / order.reference_price <= params.stop_loss_pct / 100 + 1e-12
        assert order.take_profit_price / order.reference_price - 1 <= params.take_profit_pct / 100 + 1e-12
        assert (day_start - equity) / day_start * 100 < limits.daily_loss_limit_pct
        approved_buys[decision.bar] = approved_buys.get(decision.bar, 0) + 1
    for bar, buys in approved_buys.items():
        held = int(np.count_nonzero(run.positions[bar]))
        allowed = DEFAULT_POSTURES[posture_from_vix(float(data.vix[bar]))].max_open_positions
        assert held + buys <= allowed, f"bar {bar}: {held} held + {buys} approved > {allowed}"
    executed = {(d.bar, d.order.symbol): d.order for d in run.decisions if d.order is not None}
    for fill in run.fills:
        if fill.reason in ("entry", "exit"):
            order = executed[(fill.decided_at, fill.symbol)]
            assert (order.side, order.quantity) == (fill.side, fill.quantity)
    assert run.cash.min() >= 0


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_orders_fill_on_the_bar_after_their_decision_and_brackets_later(name: str) -> None:
    run = _run(name)
    entries = {}
    for fill in run.fills:
        if fill.reason in ("entry", "exit"):
            assert fill.bar == fill.decided_at + 1
        if fill.reason == "entry":
            entries[fill.symbol] = fill.bar
        else:
            assert fill.bar > entries[fill.symbol]  # an exit, or a bracket armed from the bar after the entry
    assert {f.reason for f in run.fills} == {"entry", "exit", "stop_loss", "take_profit"}


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_the_book_is_cash_plus_holdings_at_their_last_close_and_pnl_reconciles(name: str) -> None:
    run, panel = _run(name), bundled().panel
    marks = panel.close  # the bundled panel has no gaps
    np.testing.assert_allclose(run.equity, run.cash + (run.positions * marks).sum(axis=1), rtol=1e-12)
    last_entry = {f.symbol: f for f in run.fills if f.reason == "entry"}
    open_pnl = sum(
        quantity * (marks[-1, j] - last_entry[symbol].price) - last_entry[symbol].fee
        for j, (symbol, quantity) in enumerate(zip(panel.symbols, run.positions[-1], strict=True))
        if quantity
    )
    realised = sum(t.pnl for t in run.trades)
    assert run.equity[-1] - CONFIG.initial_cash == pytest.approx(realised + open_pnl, abs=1e-6)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_the_metrics_of_a_backtest_are_those_of_its_equity_curve(name: str) -> None:
    run, data = _run(name), bundled()
    expected = performance_metrics(
        run.equity,
        years=calendar_years(data.dates[0], data.dates[-1]),
        trade_pnl=[t.pnl for t in run.trades],
        positions=run.positions,
    )
    assert run.metrics == expected
    m = run.metrics
    assert run.equity[0] == CONFIG.initial_cash  # nothing can fill on the first bar
    assert m.total_return == pytest.approx(run.equity[-1] / CONFIG.initial_cash - 1)
    assert m.max_drawdown == pytest.approx(np.min(run.equity / np.maximum.accumulate(run.equity) - 1))
    assert m.exposure == pytest.approx(np.mean(run.positions.any(axis=1)))
    assert m.trades.trades == len(run.trades)
    assert m.trades.win_rate == pytest.approx(np.mean([t.pnl > 0 for t in run.trades]))
    assert math.isclose(m.calmar, m.cagr / -m.max_drawdown)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_the_whole_bundled_file_backtests(name: str) -> None:
    """Its speed is measured by `python -m evals.bench_quant`, not asserted here."""
    data = load_bundled_daily()  # the whole bundled file: 2012-09-04..2017-09-01
    panel = OhlcvPanel(data.symbols, data.open, data.high, data.low, data.close, data.volume)
    assert (panel.bars, len(panel.symbols)) == (1258, 12)
    run = run_backtest(panel, STRATEGIES[name], CONFIG, vix=data.vix, dates=data.dates)
    assert run.equity.shape == (1258,) and np.all(np.isfinite(run.equity))
