"""The quant report: one symbol's indicator snapshot at its last bar, as the roles are shown it.

This module owns what "the numbers" mean in a deliberation: which indicators, which periods, the trend
dead band and the anomaly flags. It reads only the last value of each indicator series, computed from data
up to the last bar. Short history never raises: values whose warm-up is not met are NaN and the report is
flagged ``insufficient_history``. A bar with zero or missing (NaN) volume is marked (``no_volume_bars``);
when one lies in the volume window (the last bar and the 20 before it) the volume ratio is NaN, the report is
flagged ``no_volume`` and ``volume_surge`` is skipped with the reason in ``skipped`` (e.g. ``volume_surge:
skipped, zero volume on 2018-03-02``); it never counts as short history. Bars whose open,
high and low all equal the close throughout (closes-only data) are flagged ``closes_only``: ATR is then the
close-to-close true range. Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date

import numpy as np
import numpy.typing as npt

from quant import indicators

RSI_PERIOD = 14
ATR_PERIOD = 14
VOLUME_PERIOD = 20
VOLATILITY_PERIOD = 20
TREND_DEAD_BAND_FRACTION = 0.001  # the fast SMA must clear the slow one by 0.1 % to call a trend
VOLUME_SURGE_RATIO = 3.0
GAP_MOVE_PCT = 5.0
HIGH_VOLATILITY_ANNUAL = 0.6  # fraction: 60 % a year


@dataclass(frozen=True, slots=True)
class QuantReport:
    """Indicator values at the last bar. Prices in the symbol's currency; units are in the field names."""

    symbol: str
    bars_used: int
    last_close: float
    return_1d_pct: float  # percent, close to close
    sma_fast: float
    sma_slow: float
    rsi: float  # 0..100, Wilder, 14 bars
    macd: float  # MACD(12, 26, 9) line, in price units
    macd_signal: float
    macd_histogram: float
    atr: float  # ATR(14), price units
    atr_pct: float  # ATR as percent of the last close
    volume_ratio: float  # last volume / mean of the previous 20
    volatility_annual: float  # fraction, from 20 daily log returns
    trend: str  # "up" | "down" | "flat" (sma_fast vs sma_slow with a 0.1 % dead band)
    flags: tuple[str, ...]  # "volume_surge", "gap_move", "high_volatility", "no_volume", "insufficient_history",
    # "closes_only" (open = high = low = close throughout)
    no_volume_bars: tuple[str, ...] = ()  # bars with zero or missing volume: their dates (else "bar -k")
    skipped: tuple[str, ...] = ()  # rules not applied and why, e.g. "volume_surge: skipped, zero volume on ..."

    def as_dict(self) -> dict[str, float | str | list[str] | None]:
        """JSON-safe: NaN becomes None and the flags a list."""
        out: dict[str, float | str | list[str] | None] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, tuple):
                out[field.name] = list(value)
            elif isinstance(value, float) and not math.isfinite(value):
                out[field.name] = None
            else:
                out[field.name] = value
        return out


def build_report(
    symbol: str,
    open_: npt.ArrayLike,
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    volume: npt.ArrayLike,
    *,
    fast: int = 20,
    slow: int = 50,
    bar_dates: Sequence[date] | None = None,
) -> QuantReport:
    """The report at the last bar of 1-D daily OHLCV series, oldest first.

    Raises ``ValueError`` for empty or mismatched series, a NaN or infinity in them, or a non-positive close;
    never for a history too short for an indicator (that value is NaN and the report is flagged). A NaN
    volume is "missing", not an error. `bar_dates`, one per bar, name the bars in ``no_volume_bars``.
    """
    series = [np.asarray(a, dtype=np.float64) for a in (open_, high, low, close, volume)]
    names = ("open", "high", "low", "close", "volume")
    for name, a in zip(names, series, strict=True):
        if a.ndim != 1:
            raise ValueError(f"{name} must be a 1-D series, got shape {a.shape}")
    lengths = {name: len(a) for name, a in zip(names, series, strict=True)}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"series lengths differ: {lengths}")
    o, h, lo, c, v = series
    if len(c) == 0:
        raise ValueError(f"no bars for {symbol}")
    if (c <= 0.0).any():
        raise ValueError(f"close of {symbol} must be positive, got {c[c <= 0.0][0]}")
    if bar_dates is not None and len(bar_dates) != len(c):
        raise ValueError(f"{len(bar_dates)} bar dates for {len(c)} bars")
    no_volume = ~(v > 0.0)  # zero or NaN
    labels = [bar_dates[i].isoformat() if bar_dates is not None else f"bar {i - len(c)}" for i in range(len(c))]
    in_window = bool(indicators.no_volume_window(v, VOLUME_PERIOD)[-1])
    skipped: tuple[str, ...] = ()
    if in_window:
        volume_ratio = math.nan
        first = max(0, len(c) - VOLUME_PERIOD - 1)
        skipped = (f"volume_surge: skipped, {_no_volume_said(v, labels, first)}",)
    else:
        volume_ratio = _last(indicators.volume_ratio(v, VOLUME_PERIOD))

    last_close = float(c[-1])
    return_1d_pct = (last_close / float(c[-2]) - 1.0) * 100.0 if len(c) >= 2 else math.nan
    sma_fast = _last(indicators.sma(c, fast))
    sma_slow = _last(indicators.sma(c, slow))
    macd = indicators.macd(c)
    atr = _last(indicators.atr(h, lo, c, ATR_PERIOD))
    values = {
        "return_1d_pct": return_1d_pct,
        "sma_fast": sma_fast,
        "sma_slow": sma_slow,
        "rsi": _last(indicators.rsi(c, RSI_PERIOD)),
        "macd": _last(macd.line),
        "macd_signal": _last(macd.signal),
        "macd_histogram": _last(macd.histogram),
        "atr": atr,
        "atr_pct": atr / last_close * 100.0,
        "volume_ratio": volume_ratio,
        "volatility_annual": _last(indicators.rolling_volatility(c, VOLATILITY_PERIOD)),
    }
    return QuantReport(
        symbol=symbol,
        bars_used=len(c),
        last_close=last_close,
        trend=_trend(sma_fast, sma_slow),
        flags=_flags(
            values, no_volume=in_window, closes_only=bool((o == c).all() and (h == c).all() and (lo == c).all())
        ),
        no_volume_bars=tuple(label for label, none in zip(labels, no_volume.tolist(), strict=True) if none),
        skipped=skipped,
        **values,
    )


def _no_volume_said(volume: npt.NDArray[np.float64], labels: list[str], first: int) -> str:
    """ "zero volume on 2018-03-02, 2018-03-05; missing volume on ..." for the bars from `first` on."""
    parts = []
    for kind, hit in (("zero", volume == 0.0), ("missing", np.isnan(volume))):
        days = [labels[i] for i in range(first, len(volume)) if hit[i]]
        if days:
            shown = ", ".join(days[:3]) + (f" and {len(days) - 3} more" if len(days) > 3 else "")
            parts.append(f"{kind} volume on {shown}")
    return "; ".join(parts)


def _last(series: npt.NDArray[np.float64]) -> float:
    return float(series[-1])


def _trend(sma_fast: float, sma_slow: float) -> str:
    # NaN compares false both ways, so a trend without history reads "flat".
    if sma_fast > sma_slow * (1.0 + TREND_DEAD_BAND_FRACTION):
        return "up"
    if sma_fast < sma_slow * (1.0 - TREND_DEAD_BAND_FRACTION):
        return "down"
    return "flat"


def _flags(values: dict[str, float], *, no_volume: bool, closes_only: bool = False) -> tuple[str, ...]:
    flags: list[str] = []
    if values["volume_ratio"] >= VOLUME_SURGE_RATIO:
        flags.append("volume_surge")
    if abs(values["return_1d_pct"]) >= GAP_MOVE_PCT:
        flags.append("gap_move")
    if values["volatility_annual"] >= HIGH_VOLATILITY_ANNUAL:
        flags.append("high_volatility")
    if no_volume:
        flags.append("no_volume")  # the volume ratio is NaN for want of volume, not of history
    if any(math.isnan(value) for name, value in values.items() if not (no_volume and name == "volume_ratio")):
        flags.append("insufficient_history")
    if closes_only:
        flags.append("closes_only")
    return tuple(flags)
