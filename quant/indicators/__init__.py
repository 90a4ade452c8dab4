"""Technical indicators over price and volume series, vectorised with numpy/scipy.

This package owns the numeric definitions every other part of AEGIS reads indicators through. Conventions
follow Stock.Indicators (DaveSkender) and are pinned by its published values in the tests:

- time is axis 0: every function accepts a 1-D series ``(time,)`` or a 2-D panel ``(time, symbols)`` and
  returns arrays of the same shape;
- warm-up bars are NaN, and a series too short for the warm-up comes back all-NaN (never an exception);
- EMA-type smoothers are seeded with the simple mean of their first ``period`` inputs; Wilder smoothing is an
  EMA with ``alpha = 1 / period``; both are solved without a Python loop over bars (``lfilter``, or on long
  series blocks of matrix products: see ``_smoothing``);
- the true range of the first bar is undefined (there is no previous close), so ATR starts at ``period``.

Inputs must be finite: a NaN or infinity raises ``ValueError`` naming the argument and the first bad index
("close has NaN at index 17"). Callers holding gappy panels handle missing cells themselves (see
``quant.screen``); silently propagating NaN through a recursive smoother would poison every later bar.

Modules: ``moving_averages`` (SMA, EMA, MACD), ``oscillators`` (RSI, stochastic), ``volatility`` (Bollinger,
true range, ATR, rolling deviations), ``volume`` (volume ratio, OBV, VWAP).

Pure: no I/O, no clock, imports nothing from the rest of the project.
"""

from quant.indicators._arrays import FloatArray
from quant.indicators.moving_averages import MacdResult, ema, macd, sma
from quant.indicators.oscillators import StochasticResult, rsi, stochastic
from quant.indicators.volatility import BollingerBands, atr, bollinger, rolling_std, rolling_volatility, true_range
from quant.indicators.volume import no_volume_window, obv, volume_ratio, vwap

__all__ = [
    "BollingerBands",
    "FloatArray",
    "MacdResult",
    "StochasticResult",
    "atr",
    "bollinger",
    "ema",
    "macd",
    "no_volume_window",
    "obv",
    "rolling_std",
    "rolling_volatility",
    "rsi",
    "sma",
    "stochastic",
    "true_range",
    "volume_ratio",
    "vwap",
]
