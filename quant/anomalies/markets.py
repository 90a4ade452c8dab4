"""Market anomaly rules over ``(time, symbols)`` panels and order-book snapshots, vectorised with numpy.

This module owns the four market rules and their thresholds (``MarketThresholds``, defaults from the
source documents). Each scan returns a ``RuleScan`` shaped ``(time, symbols)``.

- ``market.price_move``: a close-to-close move of 5 % or more (``|move| >= 5``) between two bars at most
  ``move_window_s = 60`` seconds apart, i.e. within one minute. Bars further apart (a session gap, a
  missing minute) are not compared, so an overnight gap is never a one-minute move. HIGH; 10 % CRITICAL.
  Close to close only: a spike that reverses inside its own bar is not seen. For other bar lengths set
  ``move_window_s`` (86,400 for daily bars) and a threshold meant for that length; 5 % was written for
  one minute.
- ``market.volume_spike``: volume of 10 or more times the mean volume of the previous 20 bars (the
  current bar excluded, as ``quant.indicators.volume_ratio``); undefined for the first 20 bars and where
  that mean is 0, and skipped wherever the bar or one of those 20 holds a zero volume (a zero would only
  deflate the baseline: `quant.indicators.no_volume_window`). LOW; 20x MEDIUM; 50x HIGH: heavy volume is
  information, not yet danger.
- ``market.funding_extreme``: a funding rate beyond +-0.1 % per 8 hours (``|rate| > 0.1 %``). Rates come
  as exchanges publish them, a fraction per funding interval (0.0001 = 0.01 %), and are scaled linearly
  to 8 hours (``rate * 8 / interval_hours``). A daily *mean* of 8-hour prints is still a rate per 8 hours,
  so it is scanned with ``interval_hours = 8`` against the same threshold: it fires when the day's prints
  averaged beyond 0.1 %, and one extreme print beside two calm ones can be diluted below it (scan the
  prints themselves to catch those). A daily *sum* of prints is a rate per 24 hours. MEDIUM; beyond
  0.2 % HIGH; beyond 0.5 % CRITICAL.
- ``market.book_imbalance``: ``(bid qty - ask qty) / (bid qty + ask qty)`` over the top 10 levels of each
  side, ``|imbalance| >= 0.7``; positive is bid-heavy. LOW; 0.9 MEDIUM; 1.0 (one side empty) HIGH. An
  empty book has no imbalance.

Inputs follow ``quant.indicators``: time is axis 0, a panel is ``(time,)`` for one symbol or
``(time, symbols)``, and NaN, infinity, a non-positive price or a negative quantity raises ``ValueError``
naming the argument and the first bad index. ``times_s`` (epoch seconds, strictly increasing) labels the
rows.

Pure: no I/O, no clock; depends only on ``quant.indicators`` and ``quant.anomalies.severity``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from quant import indicators
from quant.anomalies.severity import BoolArray, FloatArray, Ladder, Rule, RuleScan, Severity

# Default severity ladders (see the module docstring); steps compare the way their rule's threshold does.
MOVE_SEVERITY = Ladder(Severity.HIGH, ((10.0, Severity.CRITICAL),))
VOLUME_SEVERITY = Ladder(Severity.LOW, ((20.0, Severity.MEDIUM), (50.0, Severity.HIGH)))
FUNDING_SEVERITY = Ladder(Severity.MEDIUM, ((0.2, Severity.HIGH), (0.5, Severity.CRITICAL)))
IMBALANCE_SEVERITY = Ladder(Severity.LOW, ((0.9, Severity.MEDIUM), (1.0, Severity.HIGH)))


@dataclass(frozen=True, slots=True)
class MarketThresholds:
    """When each market rule fires, and how badly. Field names say the comparison; units are in the names."""

    move_at_least_pct: float = 5.0
    move_window_s: float = 60.0  # longest gap between two bars whose closes are compared
    move_severity: Ladder = MOVE_SEVERITY
    volume_at_least_multiple: float = 10.0
    volume_window_bars: int = 20
    volume_severity: Ladder = VOLUME_SEVERITY
    funding_beyond_pct_per_8h: float = 0.1
    funding_severity: Ladder = FUNDING_SEVERITY
    imbalance_at_least: float = 0.7  # fraction of the top-of-book quantity, 0..1
    book_levels: int = 10
    imbalance_severity: Ladder = IMBALANCE_SEVERITY

    def __post_init__(self) -> None:
        for name in ("move_at_least_pct", "move_window_s", "volume_at_least_multiple", "funding_beyond_pct_per_8h"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number, got {value}")
        if not 0 < self.imbalance_at_least <= 1:
            raise ValueError(f"imbalance_at_least must be within (0, 1], got {self.imbalance_at_least}")
        for name in ("volume_window_bars", "book_levels"):
            try:
                count = operator.index(getattr(self, name))
            except TypeError:
                raise ValueError(f"{name} must be an integer, got {getattr(self, name)!r}") from None
            if count < 1:
                raise ValueError(f"{name} must be at least 1, got {count}")


def scan_price_moves(
    close: npt.ArrayLike,
    *,
    times_s: npt.ArrayLike,
    symbols: Sequence[str],
    thresholds: MarketThresholds = MarketThresholds(),
) -> RuleScan:
    """Close-to-close moves in percent between bars at most ``move_window_s`` apart; the rest are NaN."""
    c = _panel(close, "close", symbols)
    t = _times(times_s, len(c))
    if (c <= 0.0).any():
        raise ValueError(f"close must be positive, got {c[_first(c <= 0.0)]} at index {_first(c <= 0.0)}")
    p = thresholds
    move = np.full(c.shape, np.nan)
    previous = np.full(c.shape, np.nan)
    previous[1:] = c[:-1]
    within = np.zeros(len(c), dtype=np.bool_)
    within[1:] = np.diff(t) <= p.move_window_s
    # 100 * (c - prev) / prev, in that order: the difference of two nearby prices is exact, so a move of
    # exactly 10 % comes out as 10.0 (c / prev - 1 gives 9.999999999999998 for 90 after 100).
    move[within] = 100.0 * (c[within] - previous[within]) / previous[within]
    return _scan(
        Rule.PRICE_MOVE, symbols, t, move, p.move_at_least_pct, p.move_severity,
        strict=False, on_magnitude=True, basis=previous, unit="% close to close",
        window=f"two bars at most {p.move_window_s:g} s apart", basis_label="previous close",
    )  # fmt: skip


def scan_volume_spikes(
    volume: npt.ArrayLike,
    *,
    times_s: npt.ArrayLike,
    symbols: Sequence[str],
    thresholds: MarketThresholds = MarketThresholds(),
) -> RuleScan:
    """Volume as a multiple of the mean of the previous ``volume_window_bars`` bars (current bar excluded)."""
    v = _panel(volume, "volume", symbols)
    t = _times(times_s, len(v))
    if (v < 0.0).any():
        raise ValueError(f"volume must be >= 0, got {v[_first(v < 0.0)]} at index {_first(v < 0.0)}")
    p = thresholds
    trailing_mean = np.full(v.shape, np.nan)
    trailing_mean[1:] = indicators.sma(v, p.volume_window_bars)[:-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        multiple = np.where(trailing_mean > 0.0, v / trailing_mean, np.nan)
    multiple[indicators.no_volume_window(v, p.volume_window_bars)] = np.nan
    return _scan(
        Rule.VOLUME_SPIKE, symbols, t, multiple, p.volume_at_least_multiple, p.volume_severity,
        strict=False, on_magnitude=False, basis=trailing_mean, unit="x trailing mean volume",
        window=f"previous {p.volume_window_bars} bars", basis_label="trailing mean volume",
    )  # fmt: skip


def scan_funding(
    rate: npt.ArrayLike,
    *,
    times_s: npt.ArrayLike,
    symbols: Sequence[str],
    interval_hours: float = 8.0,
    thresholds: MarketThresholds = MarketThresholds(),
) -> RuleScan:
    """Funding prints (fractions per ``interval_hours``) as percent per 8 hours, fired beyond the limit."""
    r = _panel(rate, "rate", symbols)
    t = _times(times_s, len(r))
    if not (math.isfinite(interval_hours) and interval_hours > 0):
        raise ValueError(f"interval_hours must be a positive finite number, got {interval_hours}")
    p = thresholds
    per_8h_pct = r * (800.0 / interval_hours)  # fraction -> percent is x100, then scaled to 8 hours
    return _scan(
        Rule.FUNDING, symbols, t, per_8h_pct, p.funding_beyond_pct_per_8h, p.funding_severity,
        strict=True, on_magnitude=True, basis=np.full(r.shape, float(interval_hours)), unit="% per 8 h",
        window="one funding print", basis_label="funding interval (h)",
    )  # fmt: skip


def scan_book_imbalance(
    bid_qty: npt.ArrayLike,
    ask_qty: npt.ArrayLike,
    *,
    at_s: float,
    symbols: Sequence[str],
    thresholds: MarketThresholds = MarketThresholds(),
) -> RuleScan:
    """Top-of-book imbalance per symbol at ``at_s``; the scan has one row.

    ``bid_qty`` and ``ask_qty`` are quantities per level, best level first: ``(levels,)`` for one book or
    ``(symbols, levels)``. Levels past ``book_levels`` are ignored; pad missing levels with 0.
    """
    if not math.isfinite(at_s):
        raise ValueError(f"at_s must be finite, got {at_s}")
    p = thresholds
    sides = []
    for name, qty in (("bid_qty", bid_qty), ("ask_qty", ask_qty)):
        q = np.asarray(qty, dtype=np.float64)
        if q.ndim == 1:
            q = q[np.newaxis, :]
        if q.ndim != 2 or q.shape[0] != len(symbols):
            raise ValueError(f"{name} must be (levels,) or (symbols, levels) for {len(symbols)} symbols, got {q.shape}")
        _check_finite(q, name)
        if (q < 0.0).any():
            raise ValueError(f"{name} must be >= 0, got {q[_first(q < 0.0)]} at index {_first(q < 0.0)}")
        sides.append(q[:, : p.book_levels].sum(axis=1))
    bid, ask = sides
    total = bid + ask
    with np.errstate(invalid="ignore", divide="ignore"):
        imbalance = np.where(total > 0.0, (bid - ask) / total, np.nan)
    return _scan(
        Rule.BOOK_IMBALANCE, symbols, np.array([at_s]), imbalance[np.newaxis, :], p.imbalance_at_least,
        p.imbalance_severity, strict=False, on_magnitude=True, basis=total[np.newaxis, :],
        unit="(bid - ask) / (bid + ask)", window=f"top {p.book_levels} levels per side",
        basis_label="top-of-book quantity",
    )  # fmt: skip


def _scan(
    rule: Rule,
    symbols: Sequence[str],
    times_s: FloatArray,
    value: FloatArray,
    threshold: float,
    ladder: Ladder,
    *,
    strict: bool,
    on_magnitude: bool,
    basis: FloatArray,
    unit: str,
    window: str,
    basis_label: str,
) -> RuleScan:
    magnitude = np.abs(value) if on_magnitude else value
    with np.errstate(invalid="ignore"):  # NaN compares false: an undefined value never fires
        fired: BoolArray = magnitude > threshold if strict else magnitude >= threshold
    return RuleScan(
        rule=rule,
        subjects=tuple(symbols),
        at_s=times_s,
        level=ladder.grade(magnitude, fired, strict=strict),
        value=value,
        basis=basis,
        threshold=float(threshold),
        strict=strict,
        on_magnitude=on_magnitude,
        unit=unit,
        window=window,
        basis_label=basis_label,
    )


def _panel(x: npt.ArrayLike, name: str, symbols: Sequence[str]) -> FloatArray:
    """``x`` as a finite ``(time, symbols)`` panel; a 1-D series is one symbol."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, np.newaxis]
    if a.ndim != 2 or a.shape[1] != len(symbols):
        raise ValueError(f"{name} must be (time,) or (time, symbols) for {len(symbols)} symbols, got {np.shape(x)}")
    _check_finite(a, name)
    return a


def _times(times_s: npt.ArrayLike, rows: int) -> FloatArray:
    t = np.asarray(times_s, dtype=np.float64)
    if t.shape != (rows,):
        raise ValueError(f"times_s must have one time per row ({rows},), got {t.shape}")
    _check_finite(t, "times_s")
    if (np.diff(t) <= 0.0).any():
        raise ValueError(f"times_s must be strictly increasing; it is not at index {_first(np.diff(t) <= 0.0)[0] + 1}")
    return t


def _check_finite(a: FloatArray, name: str) -> None:
    if not np.isfinite(a).all():
        index = _first(~np.isfinite(a))
        raise ValueError(f"{name} has {'NaN' if np.isnan(a[index]) else 'an infinite value'} at index {index}")


def _first(mask: npt.NDArray[np.bool_]) -> tuple[int, ...]:
    # argwhere is row-major, so on a panel the first hit is the earliest bar.
    return tuple(int(i) for i in np.argwhere(mask)[0])
