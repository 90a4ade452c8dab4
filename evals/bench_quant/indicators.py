"""Benchmark: ``quant.indicators`` against TA-Lib on a million bars.

    python -m evals.bench_quant.indicators [--bars 1000000] [--repeats 15]

Both libraries run in the same process on the same reproducible random walk (seeded, float64, C-contiguous):
closes are a geometric random walk from 100 with 1 % daily moves, each bar opens at the previous close, and
highs and lows extend beyond the open and close by half-normal amounts. Timings are the best of
``--repeats`` runs, ours and TA-Lib's interleaved so both see the same machine load.

Rows are ``(case, our seconds, TA-Lib seconds, max abs difference)``. The difference is taken over bars
``COMPARE_FROM`` onwards, where every seeding convention has washed out (Stock.Indicators, ours, seeds
EMA-type smoothers with the SMA of the first ``period`` inputs; TA-Lib does the same for EMA, RSI and ATR but
starts MACD's fast EMA later, and starts OBV at the first bar's volume, so OBV is compared after removing
that constant). For MACD and the bands it is the largest over the three output series; for the stochastic
over %K and %D.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import talib

from quant import indicators as ind
from quant.indicators import FloatArray

SEED = 20240601
COMPARE_FROM = 1_000  # first bar of the compared range (every seed has washed out long before)


@dataclass(frozen=True, slots=True)
class Bars:
    """OHLCV arrays of one synthetic series, float64 and C-contiguous."""

    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray


def random_walk(n_bars: int, seed: int = SEED) -> Bars:
    """A reproducible geometric random walk with consistent OHLCV bars (high >= max(open, close) etc.)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n_bars)))
    open_ = np.concatenate(([100.0], close[:-1]))
    reach = np.abs(rng.normal(0.0, 0.004, (2, n_bars))) * close
    high = np.maximum(open_, close) + reach[0]
    low = np.minimum(open_, close) - reach[1]
    volume = np.round(rng.lognormal(13.0, 0.5, n_bars))
    return Bars(open=open_, high=high, low=low, close=close, volume=volume)


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    ours: Callable[[], Sequence[FloatArray]]
    theirs: Callable[[], Sequence[FloatArray]]
    offset: Callable[[], float] = lambda: 0.0  # added to TA-Lib's outputs before comparing


def cases(bars: Bars) -> list[Case]:
    h, lo, c, v = bars.high, bars.low, bars.close, bars.volume
    return [
        Case("rsi_14", lambda: [ind.rsi(c, 14)], lambda: [talib.RSI(c, 14)]),
        Case("ema_20", lambda: [ind.ema(c, 20)], lambda: [talib.EMA(c, 20)]),
        Case("macd_12_26_9", lambda: list(ind.macd(c, 12, 26, 9)), lambda: list(talib.MACD(c, 12, 26, 9))),
        Case("atr_14", lambda: [ind.atr(h, lo, c, 14)], lambda: [talib.ATR(h, lo, c, 14)]),
        Case("sma_20", lambda: [ind.sma(c, 20)], lambda: [talib.SMA(c, 20)]),
        Case(
            "bollinger_20_2",
            lambda: list(ind.bollinger(c, 20, 2.0)),
            # TA-Lib returns (upper, middle, lower), its moving averages default to SMA; ours unpacks as
            # (middle, upper, lower).
            lambda: [(bands := talib.BBANDS(c, timeperiod=20, nbdevup=2.0, nbdevdn=2.0))[1], bands[0], bands[2]],
        ),
        Case(
            "stochastic_14_3_3",
            lambda: list(ind.stochastic(h, lo, c, 14, 3, 3)),
            lambda: list(talib.STOCH(h, lo, c, fastk_period=14, slowk_period=3, slowd_period=3)),
        ),
        Case("obv", lambda: [ind.obv(c, v)], lambda: [talib.OBV(c, v)], offset=lambda: -float(v[0])),
    ]


def _best_interleaved(first: Callable[[], object], second: Callable[[], object], repeats: int) -> tuple[float, float]:
    best_first = best_second = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        first()
        middle = time.perf_counter()
        second()
        end = time.perf_counter()
        best_first, best_second = min(best_first, middle - start), min(best_second, end - middle)
    return best_first, best_second


def _max_difference(ours: Sequence[FloatArray], theirs: Sequence[FloatArray], offset: float) -> float:
    worst = 0.0
    for mine, reference in zip(ours, theirs, strict=True):
        worst = max(worst, float(np.max(np.abs(mine[COMPARE_FROM:] - (reference[COMPARE_FROM:] + offset)))))
    return worst


def bench_indicators(n_bars: int = 1_000_000, repeats: int = 15) -> list[tuple[str, float, float, float]]:
    """``(case, our seconds, TA-Lib seconds, max abs difference from bar COMPARE_FROM)`` per indicator."""
    bars = random_walk(n_bars)
    rows = []
    for case in cases(bars):
        ours_s, theirs_s = _best_interleaved(case.ours, case.theirs, repeats)
        difference = _max_difference(case.ours(), case.theirs(), case.offset())
        rows.append((case.name, ours_s, theirs_s, difference))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    rows = bench_indicators(args.bars, args.repeats)
    print(f"{args.bars:,} bars, best of {args.repeats}; differences from bar {COMPARE_FROM:,}")
    print(f"{'case':<20}{'ours ms':>10}{'TA-Lib ms':>11}{'ratio':>8}{'max abs diff':>15}")
    for name, ours_s, theirs_s, difference in rows:
        ratio = ours_s / theirs_s
        print(f"{name:<20}{ours_s * 1e3:>10.2f}{theirs_s * 1e3:>11.2f}{ratio:>8.2f}{difference:>15.3g}")


if __name__ == "__main__":
    main()
