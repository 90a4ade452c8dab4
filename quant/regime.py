"""The market's regime as the posture evaluation reads it: an equal-weight basket's trend and realised
volatility, from the closes of the symbols that stand for "the market".

Pure: arrays in, a `quant.posture.MarketRegime` out; no I/O, no clock. Short or gappy history never raises:
an input whose warm-up is not met is None, which the evaluation leaves out (the VIX alone decides).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from quant import indicators
from quant.posture import MarketRegime

TREND_FAST = 20  # bars of the fast moving average
TREND_SLOW = 50  # bars of the slow moving average
VOLATILITY_PERIOD = 20  # log returns in the realised volatility
PERIODS_PER_YEAR = 252.0  # daily bars


def basket(closes: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Equal-weight index of a (time, symbols) panel of closes, each symbol from its first close on a common
    time axis: the mean of close / first close over the symbols quoted at every row. Rows where a symbol
    has no close (NaN) are dropped; an empty panel gives an empty series."""
    panel = np.asarray(closes, dtype=np.float64)
    if panel.ndim == 1:
        panel = panel[:, None]
    if panel.size == 0:
        return np.empty(0)
    complete = np.all(np.isfinite(panel) & (panel > 0), axis=1)
    rows = panel[complete]
    if len(rows) == 0:
        return np.empty(0)
    return np.asarray(np.mean(rows / rows[0], axis=1), dtype=np.float64)


def market_regime(
    closes: npt.ArrayLike,
    vix: float | None,
    *,
    fast: int = TREND_FAST,
    slow: int = TREND_SLOW,
    volatility_period: int = VOLATILITY_PERIOD,
    periods_per_year: float = PERIODS_PER_YEAR,
) -> MarketRegime:
    """The VIX with the basket's trend (fast vs slow simple moving average, percent) and realised volatility
    (annualised percent) at its last row; each None while its history is too short."""
    index = basket(closes)
    trend: float | None = None
    volatility: float | None = None
    if len(index) >= slow:
        fast_ma = float(indicators.sma(index, fast)[-1])
        slow_ma = float(indicators.sma(index, slow)[-1])
        trend = (fast_ma / slow_ma - 1.0) * 100.0
    if len(index) > volatility_period:
        annual = float(indicators.rolling_volatility(index, volatility_period, periods_per_year)[-1])
        volatility = annual * 100.0 if math.isfinite(annual) else None
    return MarketRegime(vix=vix, trend_pct=trend, volatility_pct=volatility)
