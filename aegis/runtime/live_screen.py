"""The trigger screen where bars enter live (`aegis feed --screen`): each bar, as it arrives, is screened
with its symbol's recent history, and what triggers on it becomes a SIGNAL_GENERATED event.

This module owns the rolling history per symbol (the last `WINDOW` bars) and the screen of the newest bar
with `quant.screen.screen_panel`, the same screen `aegis run` applies to a whole panel. With 250 bars of
history the two agree exactly on the bundled data (1,200 triggers over five years and 12 symbols, none
different; 120 bars differ on about a quarter of them, through the RSI's memory), at about 0.3 ms a bar.
A recorded tape already holds the signals found when it was recorded, so it is not screened again unless
asked (a tape of ticks only).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from aegis.runtime.signals import bar_signal_event
from quant.screen import ScreenParams, screen_panel
from state.events import Bar

WINDOW = 250  # bars of history per symbol: enough for the screen to agree with a whole-panel one
SOURCE = "live-screen"


@dataclass(slots=True)
class LiveScreen:
    params: ScreenParams = field(default_factory=ScreenParams)
    window: int = WINDOW
    screened: int = 0
    _bars: dict[str, deque[Bar]] = field(default_factory=dict)

    def bar(self, symbol: str, bar: Bar) -> list[dict[str, object]]:
        """The signal events the screen finds on `bar` (none for a bar not after its symbol's last one)."""
        history = self._bars.setdefault(symbol, deque(maxlen=self.window))
        if history and bar.time <= history[-1].time:
            return []
        history.append(bar)
        self.screened += 1
        panel = np.array([(b.open, b.high, b.low, b.close, b.volume) for b in history], dtype=np.float64)
        o, h, lo, c, v = (panel[:, i : i + 1] for i in range(5))
        last = len(history) - 1
        return [
            bar_signal_event(symbol, bar, trigger, source=SOURCE)
            for trigger in screen_panel(o, h, lo, c, v, self.params)
            if trigger.row == last
        ]
