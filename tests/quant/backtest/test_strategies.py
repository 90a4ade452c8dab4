"""The reference strategies' rules on constructed series, and what ``decide`` proposes from them."""

from __future__ import annotations

import numpy as np
import pytest

from quant.backtest import BookState, GrowthStrategy, Holding, OhlcvPanel, ValueStrategy
from quant.backtest.panel import market_view
from quant.risk_guard import Action


def _single(close: np.ndarray, volume: np.ndarray | None = None) -> OhlcvPanel:
    column = close[:, np.newaxis]
    vol = np.full_like(column, 1_000.0) if volume is None else volume[:, np.newaxis]
    return OhlcvPanel(("AAA",), column, column, column, column, vol)


def _fired(values: np.ndarray) -> list[int]:
    return np.flatnonzero(values[:, 0] == 1.0).tolist()


# Falls from 100 to 90 over 60 bars, then climbs to 110: RSI(14) recovers through 30 at bar 61 and
# SMA 20 crosses above SMA 50 at bar 75.
V_SHAPE = np.concatenate([np.linspace(100.0, 90.0, 60), np.linspace(90.5, 110.0, 40)])


def test_growth_enters_on_a_volume_surge_within_ten_bars_of_a_golden_cross_in_an_uptrend() -> None:
    volume = np.full(100, 1_000.0)
    volume[[70, 77, 90]] = 2_000.0  # 70: before the cross; 77: two bars after it; 90: fifteen bars after
    features = GrowthStrategy().features(_single(V_SHAPE, volume))
    assert _fired(features["entry"]) == [77]
    assert np.isnan(features["entry"][:49]).all()  # SMA 50 warms up at bar 49
    assert _fired(features["exit"]) == list(range(49, 75))  # SMA 20 below SMA 50 until the cross


def test_growth_needs_the_surge_on_an_up_bar() -> None:
    close = V_SHAPE.copy()
    close[77] = close[76] - 0.01
    volume = np.full(100, 1_000.0)
    volume[77] = 2_000.0
    assert _fired(GrowthStrategy().features(_single(close, volume))["entry"]) == []


# A steady climb from 100 to 130 (SMA 20 above SMA 50 from its first value, so no golden cross ever), a
# five-bar slide of 3 % a day that takes RSI(14) down to 18.8, and a rebound of 1 % a day: RSI crosses back
# above 30 at bar 87 while the uptrend still holds (until bar 92).
DIP_IN_UPTREND = np.concatenate([np.linspace(100.0, 130.0, 80), 130.0 * 0.97 ** np.arange(1, 6)])
DIP_IN_UPTREND = np.concatenate([DIP_IN_UPTREND, DIP_IN_UPTREND[-1] * 1.01 ** np.arange(1, 16)])


def test_growth_accepts_an_oversold_recovery_in_an_uptrend_as_the_setup() -> None:
    volume = np.full(100, 1_000.0)
    volume[[79, 89]] = 2_000.0  # 79: uptrend but no setup; 89: two bars after the recovery
    features = GrowthStrategy().features(_single(DIP_IN_UPTREND, volume))
    assert _fired(features["entry"]) == [89]
    assert _fired(GrowthStrategy(setup_window=2).features(_single(DIP_IN_UPTREND, volume))["entry"]) == []


# Quiet around 100 for 40 bars, a four-bar slide to 88, then a rebound to 101.
DIP = np.concatenate([100.0 + 0.3 * np.sin(np.arange(40.0)), [97.0, 94.0, 91.0, 88.0, 92.0, 96.0, 100.0, 101.0]])


def test_value_enters_below_the_lower_band_with_rsi_oversold_and_exits_at_the_middle_band() -> None:
    features = ValueStrategy().features(_single(DIP))
    assert _fired(features["entry"]) == [40, 41, 42, 43]
    assert [t for t in _fired(features["exit"]) if t >= 40] == [46, 47]
    assert np.isnan(features["entry"][:19]).all()


def test_signals_restart_their_warm_up_after_a_gap() -> None:
    close = np.concatenate([DIP, DIP])
    gappy = close.copy()
    gappy[len(DIP)] = np.nan
    features = ValueStrategy().features(_single(gappy))
    second = features["entry"][len(DIP) + 1 :]
    expected = ValueStrategy().features(_single(DIP[1:]))["entry"]
    np.testing.assert_array_equal(second, expected)


def test_decide_sells_held_symbols_whose_exit_fires_then_buys_unheld_symbols_whose_entry_fires() -> None:
    panel = OhlcvPanel(("AAA", "BBB", "CCC"), *(np.full((2, 3), 50.0),) * 4, np.full((2, 3), 1e6))
    features = {"entry": np.array([[0, 0, 0], [1.0, 1.0, 0.0]]), "exit": np.array([[0, 0, 0], [1.0, 0.0, 1.0]])}
    held = Holding("AAA", 10.0, 50.0, 0.5, 0, 0, 49.0, 52.0)
    book = BookState(cash=1_000.0, equity=1_500.0, holdings={"AAA": held})
    proposals = ValueStrategy().decide(market_view(panel, features, 1), book)
    assert [(p.symbol, p.action, p.order_type, p.limit_price) for p in proposals] == [
        ("AAA", Action.SELL, "market", None),
        ("BBB", Action.BUY, "limit", 50.0),  # value buys at the close; AAA is held, CCC has no entry
    ]
    growth = GrowthStrategy().decide(market_view(panel, features, 1), book)
    assert [(p.symbol, p.order_type) for p in growth] == [("AAA", "market"), ("BBB", "market")]


@pytest.mark.parametrize(
    "make",
    [
        lambda: GrowthStrategy(fast=0),
        lambda: GrowthStrategy(volume_surge_ratio=float("nan")),
        lambda: ValueStrategy(band_width=-1.0),
    ],
)
def test_invalid_parameters_are_refused(make: object) -> None:
    with pytest.raises(ValueError, match="must be"):
        make()  # type: ignore[operator]
