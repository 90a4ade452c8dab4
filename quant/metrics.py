"""Performance metrics of equity curves and trade lists.

This module owns what AEGIS means by "return", "volatility", "Sharpe", "drawdown" and the trade statistics,
so that a backtest, an eval report and the README quote the same numbers. Definitions follow ffn
(pmorissette/ffn) where ffn has one, and its published values on its own test data are pinned by the tests.

Units and conventions:

- an equity curve is a 1-D series of account values in account currency, one per bar, finite and > 0;
  returns are simple bar-to-bar returns ``e[t] / e[t-1] - 1``;
- every return-like output is a **fraction** (0.05 = 5 %), never percent; rates are **annualised** where
  the name says so;
- CAGR needs a length of time in years, which callers take from one of two clocks, and must say which:
  ``calendar_years(start, end)`` counts calendar days / 365.25 like ffn's ``year_frac`` (use it when the
  bars carry dates), ``bar_years(n_bars, periods_per_year)`` counts ``(n_bars - 1) / periods_per_year``
  (use it for undated bars; 252 trading days a year by default);
- volatility, Sharpe and Sortino use ``periods_per_year`` (252 for daily bars) to annualise; Sharpe and
  volatility use the sample deviation (ddof = 1) like ffn; Sortino divides by the downside deviation
  ``sqrt(mean(min(excess, 0)^2))`` over all bars (Sortino & Price's target semi-deviation, target 0 excess);
- the risk-free rate is an annual fraction, de-annualised per bar as ``(1 + rf)^(1 / periods_per_year) - 1``;
- max drawdown is the worst fall from a running peak, as a **negative** fraction (-0.25 = 25 % below the
  peak) or 0.0 when the curve never falls, like ffn; Calmar is ``CAGR / |max drawdown|``;
- trade statistics take each closed trade's profit and loss in one unit (account currency, or fractions):
  a trade with P&L > 0 is a win, < 0 a loss, exactly 0 neither; ``average_loss`` is negative;
- an undefined value (volatility of one return, Calmar without a drawdown, win rate of no trades) is NaN,
  never an exception; a profit factor with wins and no losses is +inf.

Pure: no I/O, no clock, imports nothing from the rest of the project.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

DAYS_PER_YEAR = 365.25  # ffn's year_frac: 31,557,600 seconds
TRADING_DAYS_PER_YEAR = 252.0
# A deviation of bar returns below this (fraction per bar) is rounding noise: the returns do not vary.
_FLAT_DEVIATION = 1e-12


@dataclass(frozen=True, slots=True)
class TradeStatistics:
    """Statistics of closed trades, in the unit of the P&L given (see the module docstring)."""

    trades: int
    win_rate: float  # fraction of trades with P&L > 0; NaN without trades
    profit_factor: float  # gross profit / gross loss; +inf with wins and no losses; NaN without either
    average_win: float  # mean P&L of the winning trades (> 0); NaN without wins
    average_loss: float  # mean P&L of the losing trades (< 0); NaN without losses


@dataclass(frozen=True, slots=True)
class PerformanceMetrics:
    """Summary of one equity curve and its trades. Fractions, not percent; rates annualised."""

    total_return: float
    cagr: float
    annual_volatility: float
    sharpe: float
    sortino: float
    max_drawdown: float  # <= 0
    calmar: float
    exposure: float  # fraction of bars ending with a position held
    trades: TradeStatistics


def calendar_years(start: date, end: date) -> float:
    """Years between two dates, counted like ffn: calendar days / 365.25. Raises if ``end < start``."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    return (end - start).days / DAYS_PER_YEAR


def bar_years(n_bars: int, periods_per_year: float = TRADING_DAYS_PER_YEAR) -> float:
    """Years spanned by ``n_bars`` consecutive bars: ``(n_bars - 1) / periods_per_year`` (0 for one bar)."""
    _check_periods(periods_per_year)
    if n_bars < 1:
        raise ValueError(f"n_bars must be at least 1, got {n_bars}")
    return (n_bars - 1) / periods_per_year


def simple_returns(equity: npt.ArrayLike) -> FloatArray:
    """Bar-to-bar simple returns ``e[t] / e[t-1] - 1``, fractions; one fewer than the bars."""
    e = _equity(equity)
    return e[1:] / e[:-1] - 1.0


def total_return(equity: npt.ArrayLike) -> float:
    """Last over first value, minus 1, as a fraction."""
    e = _equity(equity)
    return float(e[-1] / e[0] - 1.0)


def cagr(equity: npt.ArrayLike, years: float) -> float:
    """Compound annual growth rate, a fraction: ``(last / first) ** (1 / years) - 1``.

    ``years`` comes from ``calendar_years`` (dated bars, ffn's convention) or ``bar_years``. NaN when
    ``years`` is not positive (a single bar has no growth rate).
    """
    e = _equity(equity)
    if not (math.isfinite(years) and years > 0):
        return math.nan
    return float((e[-1] / e[0]) ** (1.0 / years) - 1.0)


def annualised_volatility(equity: npt.ArrayLike, periods_per_year: float = TRADING_DAYS_PER_YEAR) -> float:
    """Sample deviation (ddof = 1) of the bar returns times ``sqrt(periods_per_year)``; NaN below 2 returns."""
    _check_periods(periods_per_year)
    r = simple_returns(equity)
    if len(r) < 2:
        return math.nan
    return float(np.std(r, ddof=1) * math.sqrt(periods_per_year))


def sharpe_ratio(
    equity: npt.ArrayLike, periods_per_year: float = TRADING_DAYS_PER_YEAR, risk_free_rate: float = 0.0
) -> float:
    """Annualised Sharpe ratio: mean over sample deviation of excess bar returns, times ``sqrt(periods)``.

    NaN below 2 returns or when the excess returns do not vary (deviation below 1e-12 per bar).
    """
    excess = _excess_returns(equity, periods_per_year, risk_free_rate)
    if len(excess) < 2:
        return math.nan
    deviation = float(np.std(excess, ddof=1))
    if not deviation > _FLAT_DEVIATION:
        return math.nan
    return float(np.mean(excess)) / deviation * math.sqrt(periods_per_year)


def sortino_ratio(
    equity: npt.ArrayLike, periods_per_year: float = TRADING_DAYS_PER_YEAR, risk_free_rate: float = 0.0
) -> float:
    """Annualised Sortino ratio: mean excess return over the downside deviation, times ``sqrt(periods)``.

    Downside deviation is ``sqrt(mean(min(excess, 0) ** 2))`` over every bar. NaN below 2 returns or when
    no bar fell short of the risk-free rate (downside deviation below 1e-12 per bar).
    """
    excess = _excess_returns(equity, periods_per_year, risk_free_rate)
    if len(excess) < 2:
        return math.nan
    downside = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2)))
    if not downside > _FLAT_DEVIATION:
        return math.nan
    return float(np.mean(excess)) / downside * math.sqrt(periods_per_year)


def drawdown(equity: npt.ArrayLike) -> FloatArray:
    """Distance below the running peak at each bar, as a fraction <= 0."""
    e = _equity(equity)
    return e / np.maximum.accumulate(e) - 1.0


def max_drawdown(equity: npt.ArrayLike) -> float:
    """The worst drawdown, a negative fraction (-0.086 = 8.6 % below the peak), or 0.0 if the curve never fell."""
    return float(np.min(drawdown(equity)))


def calmar_ratio(cagr_fraction: float, max_drawdown_fraction: float) -> float:
    """CAGR over the size of the max drawdown; NaN when there was no drawdown (or either input is NaN)."""
    if not max_drawdown_fraction < 0:
        return math.nan
    return cagr_fraction / -max_drawdown_fraction


def trade_statistics(pnl: npt.ArrayLike) -> TradeStatistics:
    """Win rate, profit factor and average win / loss of closed trades' P&L (any single unit)."""
    p = np.asarray(pnl, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"pnl must be 1-D (one value per trade), got {p.ndim}-D")
    if not np.isfinite(p).all():
        raise ValueError("pnl must be finite")
    wins, losses = p[p > 0], p[p < 0]
    gross_profit, gross_loss = float(wins.sum()), float(-losses.sum())
    profit_factor = gross_profit / gross_loss if gross_loss > 0 else (math.inf if gross_profit > 0 else math.nan)
    return TradeStatistics(
        trades=len(p),
        win_rate=len(wins) / len(p) if len(p) else math.nan,
        profit_factor=profit_factor,
        average_win=float(wins.mean()) if len(wins) else math.nan,
        average_loss=float(losses.mean()) if len(losses) else math.nan,
    )


def exposure(positions: npt.ArrayLike) -> float:
    """Fraction of bars that end with any position held.

    ``positions`` holds quantities per bar: 1-D ``(time,)`` or 2-D ``(time, symbols)``; a bar counts when
    any quantity in its row is non-zero. NaN for zero bars.
    """
    q = np.asarray(positions, dtype=np.float64)
    if q.ndim not in (1, 2):
        raise ValueError(f"positions must be 1-D or 2-D, got {q.ndim}-D")
    if len(q) == 0:
        return math.nan
    held = q != 0 if q.ndim == 1 else (q != 0).any(axis=1)
    return float(np.mean(held))


def performance_metrics(
    equity: npt.ArrayLike,
    *,
    years: float,
    trade_pnl: npt.ArrayLike = (),
    positions: npt.ArrayLike | None = None,
    periods_per_year: float = TRADING_DAYS_PER_YEAR,
    risk_free_rate: float = 0.0,
) -> PerformanceMetrics:
    """Every metric of this module for one equity curve.

    ``years`` is the span for CAGR (``calendar_years`` or ``bar_years``); ``trade_pnl`` the closed trades'
    P&L; ``positions`` the quantities held at each bar (exposure is NaN without them).
    """
    e = _equity(equity)
    growth = cagr(e, years)
    worst = max_drawdown(e)
    return PerformanceMetrics(
        total_return=total_return(e),
        cagr=growth,
        annual_volatility=annualised_volatility(e, periods_per_year),
        sharpe=sharpe_ratio(e, periods_per_year, risk_free_rate),
        sortino=sortino_ratio(e, periods_per_year, risk_free_rate),
        max_drawdown=worst,
        calmar=calmar_ratio(growth, worst),
        exposure=math.nan if positions is None else exposure(positions),
        trades=trade_statistics(trade_pnl),
    )


# --- helpers -------------------------------------------------------------------------------------------


def _equity(equity: npt.ArrayLike) -> FloatArray:
    e = np.asarray(equity, dtype=np.float64)
    if e.ndim != 1 or len(e) == 0:
        raise ValueError(f"equity must be a non-empty 1-D series, got shape {e.shape}")
    bad = ~(np.isfinite(e) & (e > 0))
    if bad.any():
        index = int(np.argmax(bad))
        raise ValueError(f"equity must be finite and > 0, got {e[index]} at index {index}")
    return e


def _check_periods(periods_per_year: float) -> None:
    if not (math.isfinite(periods_per_year) and periods_per_year > 0):
        raise ValueError(f"periods_per_year must be a positive finite number, got {periods_per_year}")


def _excess_returns(equity: npt.ArrayLike, periods_per_year: float, risk_free_rate: float) -> FloatArray:
    _check_periods(periods_per_year)
    if not (math.isfinite(risk_free_rate) and risk_free_rate > -1):
        raise ValueError(f"risk_free_rate must be a finite annual fraction > -1, got {risk_free_rate}")
    per_bar = (1.0 + risk_free_rate) ** (1.0 / periods_per_year) - 1.0
    excess: FloatArray = simple_returns(equity) - per_bar
    return excess
