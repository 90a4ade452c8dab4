"""A signal found on a daily panel, as the SIGNAL_GENERATED event the pipeline deliberates.

This module owns the one form of a replayed signal: id `{symbol}-{day}-{signal}`, event time and bar time at
the day's close (16:00 New York), the bar's OHLCV, and the bot it belongs to (none: the default bot).
"""

from __future__ import annotations

from quant.screen import Trigger
from state.events import EventType
from tools.feeds.bundled import DailyPanel, bar_time

SOURCE = "replay:bundled-daily"


def signal_event(panel: DailyPanel, trigger: Trigger, bot_id: str | None = None) -> dict[str, object]:
    day, symbol = panel.dates[trigger.row], panel.symbols[trigger.column]
    at = bar_time(day)
    t, c = trigger.row, trigger.column
    event: dict[str, object] = {
        "id": f"{symbol}-{day.isoformat()}-{trigger.signal}",
        "type": EventType.SIGNAL_GENERATED.value,
        "source": SOURCE,
        "symbols": [symbol],
        "event_time": at.isoformat(),
        "payload": {
            "signal": trigger.signal,
            "direction": trigger.direction,
            "strength": round(float(trigger.strength), 4),
            "bar": {
                "time": at.isoformat(),
                "open": float(panel.open[t, c]),
                "high": float(panel.high[t, c]),
                "low": float(panel.low[t, c]),
                "close": float(panel.close[t, c]),
                "volume": float(panel.volume[t, c]),
            },
        },
    }
    if bot_id is not None:
        event["bot_id"] = bot_id
    return event
