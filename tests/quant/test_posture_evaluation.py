"""The posture evaluation (AEGIS v3.1 section 3): the VIX bands, what volatility and trend add, and the
rule that it is never looser than the VIX posture, whatever the other inputs say or lack."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant.posture import (
    MarketRegime,
    Posture,
    RegimeThresholds,
    VixThresholds,
    evaluate_posture,
    posture_from_vix,
    posture_named,
)
from quant.regime import basket, market_regime

OFF, GUE, DEF = Posture.OFFENSIVE, Posture.GUERRILLA, Posture.DEFENSIVE


@pytest.mark.parametrize(
    ("vix", "volatility", "trend", "expected"),
    [
        # the VIX bands, the others calm or missing: today's answer
        (14.99, 10.0, 3.0, OFF), (15.0, 10.0, 3.0, GUE), (25.0, 10.0, 3.0, GUE), (25.01, 10.0, 3.0, DEF),
        (12.0, None, None, OFF), (20.0, None, None, GUE), (30.0, None, None, DEF), (None, 10.0, 3.0, DEF),
        (math.nan, 10.0, 3.0, DEF), (12.0, math.nan, math.inf, OFF),
        # volatility: below 15 % any, 15..25 % at most guerrilla, above 25 % defensive
        (12.0, 14.99, 0.0, OFF), (12.0, 15.0, 0.0, GUE), (12.0, 25.0, 0.0, GUE), (12.0, 25.01, 0.0, DEF),
        (20.0, 15.0, 0.0, GUE), (30.0, 5.0, 0.0, DEF),
        # trend: a falling market (fast MA 2 % or more under the slow one) is defensive
        (12.0, 10.0, -1.99, OFF), (12.0, 10.0, -2.0, DEF), (20.0, 10.0, -5.0, DEF), (12.0, 10.0, 8.0, OFF),
    ],
)  # fmt: skip
def test_the_evaluation_at_every_threshold(
    vix: float | None, volatility: float | None, trend: float | None, expected: Posture
) -> None:
    result = evaluate_posture(MarketRegime(vix=vix, trend_pct=trend, volatility_pct=volatility))
    assert result.posture is expected
    assert result.vix_posture is posture_from_vix(vix)


def test_the_reason_names_every_input_and_what_it_said() -> None:
    reason = evaluate_posture(MarketRegime(vix=13.5, trend_pct=-2.5, volatility_pct=18.0)).reason
    assert reason == (
        "VIX 13.50: offensive; volatility 18.0 %: medium: at most guerrilla; trend -2.50 %: falling market: defensive"
    )
    missing = evaluate_posture(MarketRegime(vix=None)).reason
    assert missing == "VIX unknown: defensive; volatility unknown: left out; trend unknown: left out"


def test_the_thresholds_come_from_the_settings() -> None:
    strict = RegimeThresholds(VixThresholds(10.0, 20.0), calm_volatility_pct=5.0, stressed_volatility_pct=8.0,
                              falling_market_pct=0.5)  # fmt: skip
    assert evaluate_posture(MarketRegime(vix=12.0), strict).posture is GUE
    assert evaluate_posture(MarketRegime(vix=9.0, volatility_pct=9.0), strict).posture is DEF
    assert evaluate_posture(MarketRegime(vix=9.0, trend_pct=-0.5), strict).posture is DEF
    with pytest.raises(ValueError, match="calm <= stressed"):
        RegimeThresholds(calm_volatility_pct=30.0, stressed_volatility_pct=20.0)


finite_or_missing = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))


@given(vix=finite_or_missing, volatility=finite_or_missing, trend=finite_or_missing)
def test_never_looser_than_the_vix_posture(vix: float | None, volatility: float | None, trend: float | None) -> None:
    result = evaluate_posture(MarketRegime(vix=vix, trend_pct=trend, volatility_pct=volatility))
    assert result.posture.caution >= posture_from_vix(vix).caution
    assert result.vix_posture is posture_from_vix(vix)


@given(
    vix=finite_or_missing,
    volatility=st.one_of(st.none(), st.just(math.nan), st.floats(0.0, 14.99)),
    trend=st.one_of(st.none(), st.just(math.nan), st.floats(-1.99, 1e6)),
)
def test_calm_or_missing_inputs_give_the_vix_answer(
    vix: float | None, volatility: float | None, trend: float | None
) -> None:
    assert evaluate_posture(MarketRegime(vix, trend, volatility)).posture is posture_from_vix(vix)


def test_the_market_regime_of_a_basket() -> None:
    rng = np.random.default_rng(7)
    closes = 100.0 * np.cumprod(1.0 + rng.normal(0.0005, 0.01, size=(80, 3)), axis=0)
    closes[10, 1] = np.nan  # a missing close drops the row for every symbol
    index = basket(closes)
    rows = np.delete(closes, 10, axis=0)
    assert np.allclose(index, np.mean(rows / rows[0], axis=1))
    regime = market_regime(closes, 14.0)
    log_returns = np.diff(np.log(index))[-20:]
    assert regime.volatility_pct == pytest.approx(np.std(log_returns, ddof=1) * math.sqrt(252) * 100)
    assert regime.trend_pct == pytest.approx((index[-20:].mean() / index[-50:].mean() - 1) * 100)
    assert regime.vix == 14.0


def test_short_history_leaves_the_inputs_out() -> None:
    closes = np.linspace(100, 80, 30).reshape(30, 1)
    regime = market_regime(closes, 14.0)
    assert regime.trend_pct is None and regime.volatility_pct is not None
    assert market_regime(np.empty((0, 0)), 14.0) == MarketRegime(14.0, None, None)
    assert market_regime(np.linspace(100, 90, 20).reshape(20, 1), None) == MarketRegime(None, None, None)


@pytest.mark.parametrize(
    ("name", "posture"), [("offensive", OFF), ("Neutral", GUE), ("guerrilla", GUE), (" DEFENSIVE ", DEF)]
)
def test_postures_by_name(name: str, posture: Posture) -> None:
    assert posture_named(name) is posture


def test_an_unknown_posture_name_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown posture 'calm': one of offensive, guerrilla, defensive, neutral"):
        posture_named("calm")
