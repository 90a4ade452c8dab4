"""A tape of real bundled data: the tape `run_replay` writes for the whole bundle (12 symbols, 2012-2017),
its signal events, more signal events made from real bars when the screen gives too few, and invalid
events with known ids (they must end in the dead-letter stream, and only they).
"""

from __future__ import annotations

import asyncio
import json
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aegis.runtime.replay_job import WARMUP_DAYS, ReplayOptions, run_replay
from aegis.services import RECORDS_FILE
from aegis.settings import Settings
from state.events import EventType
from state.store.base import AuditEntry
from state.store.sqlite import SqliteStore
from state.trading import ACCOUNT_SCOPE, TradingState, TradingStatus
from tools.feeds.bars import panel_bar
from tools.feeds.bundled import load_bundled_daily

# The hot window is 120 bars: ticks older than the last 130 trading days would be pushed out of it before
# any worker reads them (the feed runs to its end first), so the tapes carry only the recent ones.
TICK_DAYS = 130
EXTRA_SIGNAL = "bar_direction"


@dataclass(frozen=True)
class Tape:
    path: Path
    valid_ids: frozenset[str]
    invalid_ids: frozenset[str]
    ticks: int
    replay_signals: int  # signal events of the replay's screen
    extra_signals: int  # signal events made from real bars to reach the size asked for

    @property
    def published(self) -> int:
        return len(self.valid_ids) + len(self.invalid_ids)


def write_replay_tape(folder: Path) -> Path:
    """Run `run_replay` over the whole bundle and return the tape it wrote (`folder/bundle.jsonl`).

    The run itself is halted (the account's trading state, no checkpoints): only its tape is wanted, and the
    halted pre-screen keeps the replay short.
    """
    tape = folder / "bundle.jsonl"
    settings = Settings(data_dir=folder / "data", checkpoints=False)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(_halt(settings.data_dir))
    options = ReplayOptions(days_per_second=0, concurrency=8, events_out=tape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "durability has no effect" without a checkpointer
        asyncio.run(run_replay(settings, options))
    return tape


async def _halt(data_dir: Path) -> None:
    async with SqliteStore(data_dir / RECORDS_FILE) as store:
        status = TradingStatus(
            scope=ACCOUNT_SCOPE, state=TradingState.HALTED, reason="tape only", actor="tests", since=datetime.now(UTC)
        )
        await store.set_trading_state(status, AuditEntry("tests", "trading_state", {"to": "halted"}))


def extra_signals(count: int, taken: set[str]) -> list[dict[str, Any]]:
    """`count` signal events on real bundled bars, spread evenly over the days after the warm-up.

    Deterministic: the signal says which way the bar went (long if it closed at or above its open), with
    the body's share of the range as its strength. Ids already `taken` are skipped.
    """
    panel = load_bundled_daily()
    rows = range(WARMUP_DAYS, len(panel.dates))
    stride = max(1, len(rows) * len(panel.symbols) // max(1, count))
    found: list[dict[str, Any]] = []
    for offset in range(stride):
        for row in rows[offset::stride]:
            for column, symbol in enumerate(panel.symbols):
                bar = panel_bar(panel, row, column)
                event_id = f"{symbol}-{panel.dates[row].isoformat()}-{EXTRA_SIGNAL}"
                if bar is None or event_id in taken:
                    continue
                body, span = abs(bar.close - bar.open), max(bar.high - bar.low, 1e-9)
                found.append(
                    {
                        "id": event_id,
                        "type": EventType.SIGNAL_GENERATED.value,
                        "source": "system-test:bundled-daily",
                        "symbols": [symbol],
                        "event_time": bar.time.isoformat(),
                        "payload": {
                            "signal": EXTRA_SIGNAL,
                            "direction": "long" if bar.close >= bar.open else "short",
                            "strength": round(min(1.0, body / span), 4),
                            "bar": bar.model_dump(mode="json"),
                        },
                    }
                )
                if len(found) == count:
                    return found
    raise ValueError(f"the bundle has fewer than {count} bars to make signals from")


def invalid_events(base: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """`count` (at most 10) events that validation must reject, ids bad-00.., each wrong in its own way."""
    bar = base["payload"]["bar"]

    def signal_with(**payload: Any) -> dict[str, Any]:
        return {**base, "payload": {**base["payload"], **payload}}

    broken: list[dict[str, Any]] = [
        {**base, "type": "NOT_AN_EVENT_TYPE"},
        {key: value for key, value in base.items() if key != "payload"},
        {**base, "source": ""},
        signal_with(bar={**bar, "close": -1.0}),
        signal_with(bar={**bar, "high": bar["low"] / 2}),
        signal_with(strength=1.5),
        signal_with(direction="sideways"),
        {**base, "event_time": "2099-01-02T21:00:00+00:00"},
        {  # an invalid tick: the feeder cannot use it, so it goes on the bus to be rejected there
            "type": EventType.MARKET_TICK.value,
            "source": base["source"],
            "symbols": base["symbols"],
            "event_time": base["event_time"],
            "payload": {"bar": {**bar, "volume": -1.0}},
        },
        {**base, "symbols": []},
    ]
    if count > len(broken):
        raise ValueError(f"at most {len(broken)} invalid events")
    return [{**event, "id": f"bad-{n:02d}"} for n, event in enumerate(broken[:count])]


def build_tape(replay_tape: Path, out: Path, *, valid: int, invalid: int = 0) -> Tape:
    """A tape for the feeder: the replay's last TICK_DAYS days of ticks, then `valid` signal events in time
    order (the replay's most recent ones, the default bot's; more made from real bars if it has too few) with
    `invalid` rejected-on-purpose events spread among them."""
    lines = [json.loads(line) for line in replay_tape.read_text(encoding="utf-8").splitlines() if line.strip()]
    ticks = [e for e in lines if e["type"] == EventType.MARKET_TICK.value]
    recent_days = set(sorted({e["event_time"] for e in ticks})[-TICK_DAYS:])
    ticks = [e for e in ticks if e["event_time"] in recent_days]
    signals = [e for e in lines if e["type"] == EventType.SIGNAL_GENERATED.value]
    # The replay's signals name the reference bot that found them; a deployment of workers has no bots
    # registered, so each would be settled at the pre-screen ("not registered"): the default bot's, here.
    chosen = [_without_bot(e) for e in (signals[-valid:] if valid <= len(signals) else signals)]
    extra = extra_signals(valid - len(chosen), {e["id"] for e in chosen}) if valid > len(chosen) else []
    events = sorted(chosen + extra, key=lambda e: (e["event_time"], e["id"]))
    bad = invalid_events(events[0], invalid)
    for n, event in enumerate(bad, start=1):
        events.insert(n * len(events) // (len(bad) + 1), event)
    with out.open("w", encoding="utf-8") as tape:
        for event in ticks + events:
            tape.write(json.dumps(event, sort_keys=True, separators=(",", ":")) + "\n")
    return Tape(
        path=out,
        valid_ids=frozenset(e["id"] for e in chosen + extra),
        invalid_ids=frozenset(e["id"] for e in bad),
        ticks=len(ticks),
        replay_signals=len(chosen),
        extra_signals=len(extra),
    )


def _without_bot(event: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in event.items() if key != "bot_id"}
