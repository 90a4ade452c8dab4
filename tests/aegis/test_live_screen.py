"""The trigger screen where ticks enter: bar by bar it finds exactly what the whole-panel screen of `aegis run`
finds on the same real bars, and `aegis feed --screen` publishes those signals for the workers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from aegis.pipeline import Pipeline
from aegis.runtime.feeder import feed_tape
from aegis.runtime.live_screen import LiveScreen
from aegis.runtime.signals import signal_event
from aegis.settings import Settings
from quant.screen import screen_panel
from state.bus.base import EventBus
from state.clock import SimulatedClock
from tools.feeds.bars import symbol_bars
from tools.feeds.bundled import load_bundled_daily
from tools.feeds.tape import tick_event

SYMBOLS = ["AAPL", "JPM", "XOM"]


def _panel_signals(symbols: list[str], last: int | None = None) -> list[dict[str, object]]:
    panel = load_bundled_daily(symbols)
    rows = slice(0, None if last is None else last + 1)
    o, h, lo, c, v = (a[rows] for a in (panel.open, panel.high, panel.low, panel.close, panel.volume))
    return [signal_event(panel, trigger) for trigger in screen_panel(o, h, lo, c, v)]


def _without_source(event: Mapping[str, object]) -> dict[str, object]:
    return {k: value for k, value in event.items() if k != "source"}


def test_bar_by_bar_the_screen_finds_what_the_whole_panel_screen_finds() -> None:
    panel = load_bundled_daily(SYMBOLS)
    screen = LiveScreen()
    found = [event for symbol in SYMBOLS for bar in symbol_bars(panel, symbol) for event in screen.bar(symbol, bar)]
    expected = _panel_signals(SYMBOLS)
    assert len(expected) > 250  # five years of three stocks: a real test of the RSI's and the averages' memory
    key = lambda e: str(e["id"])  # noqa: E731
    assert sorted(map(_without_source, found), key=key) == sorted(map(_without_source, expected), key=key)
    assert screen.bar("AAPL", symbol_bars(panel, "AAPL")[-1]) == []  # a redelivered bar finds nothing


class Published:
    def __init__(self) -> None:
        self.events: list[Mapping[str, Any]] = []

    async def publish(self, event: Mapping[str, Any]) -> str:
        self.events.append(event)
        return str(len(self.events))


async def test_feed_with_the_screen_publishes_the_signals_of_a_tick_only_tape(tmp_path: Path) -> None:
    panel = load_bundled_daily(["AAPL"])
    bars = symbol_bars(panel, "AAPL", last=299)
    lines = [json.dumps(tick_event("AAPL", bar)) for bar in bars]
    published = Published()
    clock = SimulatedClock(bars[0].time - timedelta(hours=1))
    async with await Pipeline.open(Settings(data_dir=tmp_path), clock=clock) as pipeline:
        stats = await feed_tape(pipeline, cast(EventBus, published), lines, LiveScreen())
    expected = _panel_signals(["AAPL"], last=299)
    assert stats.ticks == 300 and stats.signals == stats.published == len(expected) > 5
    assert [e["id"] for e in published.events] == [e["id"] for e in expected]
    assert {e["source"] for e in published.events} == {"live-screen"}
