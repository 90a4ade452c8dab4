"""A signal the trigger screen found, as the SIGNAL_GENERATED event the pipeline deliberates.

This module owns the one form of a signal event: id `{symbol}-{day}-{signal}`, event time and bar time at
the bar's close, the bar's OHLCV, the screen's direction and strength, and the bot it belongs to (none: the
default bot). `signal_event` makes it from a daily panel (`aegis run`), `bar_signal_event` from a bar as it
arrives (`aegis.runtime.live_screen`); both give the same event for the same bar and trigger.
"""

from __future__ import annotations

from quant.screen import Trigger
from state.events import Bar, EventType
from tools.feeds.bars import panel_bar
from tools.feeds.bundled import DailyPanel

SOURCE = "replay:bundled-daily"


def bar_signal_event(
    symbol: str, bar: Bar, trigger: Trigger, *, source: str = SOURCE, bot_id: str | None = None
) -> dict[str, object]:
    at = bar.time.isoformat()
    event: dict[str, object] = {
        "id": f"{symbol}-{bar.time.date().isoformat()}-{trigger.signal}",
        "type": EventType.SIGNAL_GENERATED.value,
        "source": source,
        "symbols": [symbol],
        "event_time": at,
        "payload": {
            "signal": trigger.signal,
            "direction": trigger.direction,
            "strength": round(float(trigger.strength), 4),
            "bar": {
                "time": at,
                "open": bar.open,
                "high": bar.high,
                "low": bar.low,
                "close": bar.close,
                "volume": bar.volume,
            },
        },
    }
    if bot_id is not None:
        event["bot_id"] = bot_id
    return event


def signal_event(
    panel: DailyPanel, trigger: Trigger, bot_id: str | None = None, *, source: str = SOURCE
) -> dict[str, object]:
    bar = panel_bar(panel, trigger.row, trigger.column)
    if bar is None:  # the screen triggers on usable cells only
        raise ValueError(f"no bar at row {trigger.row}, column {trigger.column} for a trigger")
    return bar_signal_event(panel.symbols[trigger.column], bar, trigger, source=source, bot_id=bot_id)
