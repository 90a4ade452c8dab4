"""The incremental market watch finds exactly what the rules' full scans find, bar by bar: on every bundled
daily bar (with its volumes), on minute bars with gaps of every kind, zero volumes, redeliveries, and moves and
spikes exactly at their thresholds."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from aegis.runtime.market_watch import MarketWatch, MarketWatchConfig
from quant.anomalies import Finding, scan_price_moves, scan_volume_spikes
from state.events import Bar
from tools.feeds.bars import symbol_bars
from tools.feeds.bundled import load_bundled_daily

T0 = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)


@dataclass
class FullScanWatch:
    """The straightforward watch: both rules' scans over the whole kept history on every bar."""

    config: MarketWatchConfig = field(default_factory=MarketWatchConfig)
    history: dict[str, tuple[deque[float], deque[float], deque[float]]] = field(default_factory=dict)

    def bar(self, symbol: str, bar: Bar) -> list[Finding]:
        keep = self.config.volume_window_bars + 1
        times, closes, volumes = self.history.setdefault(
            symbol, (deque(maxlen=keep), deque(maxlen=keep), deque(maxlen=keep))
        )
        at = bar.time.timestamp()
        if times and at <= times[-1]:
            return []
        gap = at - times[-1] if times else float("inf")
        times.append(at)
        closes.append(bar.close)
        volumes.append(bar.volume)
        if len(times) < 2:
            return []
        thresholds = self.config.thresholds(gap)
        t = np.array(times)
        findings = scan_price_moves(np.array(closes), times_s=t, symbols=(symbol,), thresholds=thresholds).findings()
        if len(volumes) == keep:
            findings += scan_volume_spikes(
                np.array(volumes), times_s=t, symbols=(symbol,), thresholds=thresholds
            ).findings()
        return [f for f in findings if f.at_s == at]


def _bar(at: datetime, close: float, volume: float) -> Bar:
    return Bar(time=at, open=close, high=close, low=close, close=close, volume=volume)


def _compare(bars: list[tuple[str, Bar]], config: MarketWatchConfig | None = None) -> int:
    """Feed both watches; assert equal findings on every bar; how many findings there were."""
    incremental = MarketWatch(config) if config else MarketWatch()
    reference = FullScanWatch(config) if config else FullScanWatch()
    found = 0
    for n, (symbol, bar) in enumerate(bars):
        expected = reference.bar(symbol, bar)
        assert incremental.bar(symbol, bar) == expected, f"bar {n} of {symbol} at {bar.time}"
        found += len(expected)
    return found


def test_every_bundled_daily_bar_gets_the_full_scans_findings() -> None:
    panel = load_bundled_daily()
    per_symbol = {symbol: symbol_bars(panel, symbol) for symbol in panel.symbols}
    days = min(len(bars) for bars in per_symbol.values())
    bars = [(symbol, per_symbol[symbol][day]) for day in range(days) for symbol in panel.symbols]
    assert _compare(bars) > 10  # the bundle's crashes and spikes are found, not just quiet days agreed on


def test_a_tighter_config_on_the_bundle_agrees_too() -> None:
    panel = load_bundled_daily()
    bars = [(s, b) for s in panel.symbols[:4] for b in symbol_bars(panel, s)]
    config = MarketWatchConfig(daily_move_at_least_pct=2.0, volume_at_least_multiple=1.5, volume_window_bars=5)
    assert _compare(bars, config) > 100


def test_minute_bars_with_gaps_zero_volumes_redeliveries_and_exact_thresholds() -> None:
    rng = np.random.default_rng(17)
    bars: list[tuple[str, Bar]] = []
    at, close = T0, 100.0
    for n in range(3_000):
        step = rng.choice([30, 60, 61, 3_600, 86_400, 4 * 86_400, 4 * 86_400 + 1, 9 * 86_400])
        at += timedelta(seconds=int(step))
        kind = n % 50
        if kind == 7:
            close *= 1.05  # exactly at the minute threshold (or the daily one's neighbourhood)
        elif kind == 19:
            close *= 0.92
        else:
            close *= float(np.exp(rng.normal(0, 0.03)))
        volume = 0.0 if kind in (3, 4) else float(rng.lognormal(8, 1))
        if kind == 30:
            volume *= 10.0  # a spike near the threshold
        bars.append(("X", _bar(at, close, volume)))
        if kind == 11:
            bars.append(("X", _bar(at, close * 1.2, volume)))  # a redelivery at the same time: ignored
            bars.append(("X", _bar(at - timedelta(seconds=5), close, volume)))  # out of order: ignored
    assert _compare(bars) > 50


def test_exactly_ten_times_the_mean_and_exactly_five_percent_fire() -> None:
    bars = [("Y", _bar(T0 + timedelta(minutes=n), 100.0, 1_000.0)) for n in range(21)]
    bars.append(("Y", _bar(T0 + timedelta(minutes=21), 105.0, 10_000.0)))
    incremental = MarketWatch()
    findings = [f for symbol, bar in bars for f in incremental.bar(symbol, bar)]
    assert len(findings) == 2
    assert _compare(bars) == 2
