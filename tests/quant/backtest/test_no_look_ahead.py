"""No look-ahead: rewriting any bar after ``t`` never changes anything decided, filled or booked up to ``t``.

Proved on the project's bundled daily bars (12 US symbols, 2013-2017) for both reference strategies at
several cut points, then as a property over random cuts and random rewrites of the future.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant.backtest import (
    BacktestResult,
    BookState,
    GrowthStrategy,
    MarketView,
    OhlcvPanel,
    Strategy,
    ValueStrategy,
    run_backtest,
)
from quant.risk_guard import ProposedOrder
from tests.quant.backtest.support import Bundled, bundled

STRATEGIES: dict[str, Strategy] = {"growth": GrowthStrategy(), "value": ValueStrategy()}
CUTS = [55, 250, 500, 800, 1100]


def _rewrite_after(data: Bundled, cut: int, seed: int, sigma: float = 0.1, holes: bool = True) -> Bundled:
    """A copy whose bars and VIX after ``cut`` are scaled at random, with a few bars removed."""
    rng = np.random.default_rng(seed)
    p = data.panel
    future = (slice(cut + 1, None), slice(None))
    shape = p.close[future].shape
    price_shock = rng.lognormal(0.0, sigma, shape)
    arrays = {name: np.array(getattr(p, name)) for name in ("open", "high", "low", "close", "volume")}
    for name in ("open", "high", "low", "close"):
        arrays[name][future] *= price_shock
    arrays["volume"][future] *= rng.lognormal(0.5, 1.0, shape)
    if holes and shape[0] > 0:
        rows = cut + 1 + rng.integers(0, shape[0], 3)
        columns = rng.integers(0, shape[1], 3)
        arrays["close"][rows, columns] = np.nan
    vix = np.array(data.vix)
    vix[cut + 1 :] *= rng.lognormal(0.0, 0.5, len(vix) - cut - 1)
    return Bundled(OhlcvPanel(p.symbols, **arrays), data.dates, vix)


def _run(strategy: Strategy, data: Bundled) -> BacktestResult:
    return run_backtest(data.panel, strategy, vix=data.vix, dates=data.dates)


def _assert_same_up_to(after: BacktestResult, before: BacktestResult, cut: int) -> None:
    assert [d for d in after.decisions if d.bar <= cut] == [d for d in before.decisions if d.bar <= cut]
    assert [f for f in after.fills if f.bar <= cut] == [f for f in before.fills if f.bar <= cut]
    assert [u for u in after.unfilled if u.bar <= cut] == [u for u in before.unfilled if u.bar <= cut]
    np.testing.assert_array_equal(after.equity[: cut + 1], before.equity[: cut + 1])
    np.testing.assert_array_equal(after.cash[: cut + 1], before.cash[: cut + 1])
    np.testing.assert_array_equal(after.positions[: cut + 1], before.positions[: cut + 1])


@functools.cache
def _reference_run(name: str) -> BacktestResult:
    return _run(STRATEGIES[name], bundled())


@pytest.mark.parametrize("cut", CUTS)
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_rewriting_the_future_changes_nothing_up_to_the_cut_on_real_data(name: str, cut: int) -> None:
    before = _reference_run(name)
    after = _run(STRATEGIES[name], _rewrite_after(bundled(), cut, seed=cut))
    _assert_same_up_to(after, before, cut)
    assert not np.array_equal(after.equity, before.equity)  # the rewrite did reach the run


@pytest.mark.parametrize("cut", CUTS)
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_features_computed_on_history_up_to_t_equal_the_full_features_up_to_t(name: str, cut: int) -> None:
    strategy = STRATEGIES[name]
    full = strategy.features(bundled().panel)
    truncated = strategy.features(bundled().panel.head(cut + 1))
    for feature, values in full.items():
        np.testing.assert_array_equal(truncated[feature], values[: cut + 1], err_msg=feature)


def test_the_reference_runs_decide_and_trade_before_every_later_cut() -> None:
    for name in STRATEGIES:
        run = _reference_run(name)
        assert min(d.bar for d in run.decisions) < CUTS[1], name
        assert len(run.fills) > 20, name


@dataclass(frozen=True)
class _Peeking:
    """Buys when tomorrow's close is higher: the look-ahead these tests exist to catch."""

    name: str = "peeking"

    def features(self, panel: OhlcvPanel) -> dict[str, np.ndarray]:
        entry = np.zeros(panel.close.shape)
        entry[:-1] = panel.close[1:] > panel.close[:-1]
        return {"entry": entry, "exit": 1.0 - entry}

    def decide(self, view: MarketView, book: BookState) -> list[ProposedOrder]:
        return ValueStrategy().decide(view, book)


def test_the_proof_catches_a_strategy_that_peeks_at_the_next_bar() -> None:
    before = _run(_Peeking(), bundled())
    after = _run(_Peeking(), _rewrite_after(bundled(), 500, seed=1))
    with pytest.raises(AssertionError):
        _assert_same_up_to(after, before, 500)


# Short periods, so that signals (and so decisions) happen within a year of data.
_FAST: dict[str, Strategy] = {
    "growth": GrowthStrategy(fast=5, slow=12, rsi_period=5, setup_window=5, volume_period=5, volume_surge_ratio=1.2),
    "value": ValueStrategy(band_period=10, band_width=1.5, rsi_period=5, rsi_oversold=35.0),
}


@functools.cache
def _one_year() -> Bundled:
    return bundled(date(2016, 1, 1), date(2016, 12, 31))


@functools.cache
def _one_year_run(name: str) -> BacktestResult:
    return _run(_FAST[name], _one_year())


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    name=st.sampled_from(sorted(_FAST)),
    cut=st.integers(min_value=0, max_value=251),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    sigma=st.floats(min_value=0.001, max_value=0.5),
    holes=st.booleans(),
)
def test_no_look_ahead_property(name: str, cut: int, seed: int, sigma: float, holes: bool) -> None:
    data = _one_year()
    cut = min(cut, data.panel.bars - 1)
    before = _one_year_run(name)
    after = _run(_FAST[name], _rewrite_after(data, cut, seed, sigma, holes))
    _assert_same_up_to(after, before, cut)
