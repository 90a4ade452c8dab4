"""The event-set builder: from the bundled real daily data, a tape of recorded events plus their labels.

A set is a folder with three files, written reproducibly (same inputs, byte-identical files):

- ``tape.jsonl``: JSON lines in time order. Each trading day: one MARKET_TICK per symbol and one for the
  VIX (symbol "VIX"), then that day's events. Ticks start ``warmup_days`` before the first event so the
  indicators of the first sessions have their history.
- ``labels.jsonl``: one line per event, computed by `evals.labels` from bars strictly after the event.
- ``manifest.json``: the set's parameters, counts and the daily closes of its instruments (the benchmark).

Events:
- ``trigger``: the daily-bar triggers of `quant.screen.screen_panel` across the stock universe (SIGNAL_GENERATED).
- ``volume_spike``: volume >= ``volume_spike_ratio`` times the mean of the previous 20 bars, on a cell where
  the screen did not already report it as its ``volume_surge`` (a stronger signal such as ``sigma_move``
  hides the surge in the screen's one-trigger-per-cell output); SIGNAL_GENERATED "volume_spike",
  direction = sign of the close-to-close return.
- ``vix_regime``: the VIX crossing 15 or 25 (the posture thresholds), as an ECONOMIC_RELEASE without a
  symbol (indicator "VIX:<old>-><new>"). It is a market-wide fact, not a trade on one symbol, so the graph
  records it and the pre-screen settles it; its label is the equal-weight basket's forward return.

Left out, because the project bundles no such data: one-minute crypto shocks, funding-rate extremes and
order-book imbalance.

Decisions that must not be silently changed:
- Labels see only bars strictly after the event (`evals.labels.FutureView` enforces it), and only bars of
  the set's own window: a development label never reads holdout data. Events without a full horizon of
  later bars inside the window are dropped, not labelled with less.
- A set built with bots (`SetSpec.bots`, `aegis eval build --bots`) gives each event with a symbol the
  reference bot whose universe holds it and writes the bots beside the tape; the runner registers them and
  the report splits the scores by bot. The standard sets are built without (one default bot).
- Development 2012-09..2015-12 and holdout 2016-01..2017-09 are split by time; the holdout tape's warm-up
  ticks come from late 2015 (market history only, no event, no label).
- A set records the data it was built from (`manifest.json` "data": source, name, sha256 of the data file,
  real fields). On imported data (`aegis eval build --data NAME --windows ...`) each window is a set, its
  events and ticks say `source: data:<name>`, and closes-only data has no ``volume_spike`` events (the
  manifest says so under "skipped"): its volume is unknown, never read as zero.
"""

from __future__ import annotations

import bisect
import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from aegis.runtime.market_data import screen_volume
from aegis.runtime.reference_bots import as_bots, reference_bots, starting_allocation
from aegis.runtime.replay_job import WARMUP_DAYS
from aegis.runtime.signals import signal_event
from aegis.runtime.tape_bots import tape_bots_path
from evals.labels import (
    DEFAULT_HORIZON,
    DEFAULT_STOP,
    DEFAULT_TARGET,
    BarsAfter,
    FutureView,
    IncompleteFutureError,
    basket_forward_return,
    label_long,
)
from quant.posture import posture_from_vix
from quant.screen import ScreenParams, Trigger, screen_panel
from state.events import EventType
from tools.feeds.bars import panel_bar
from tools.feeds.bundled import DailyPanel, bar_time
from tools.feeds.datasets import Dataset, bundled_dataset
from tools.feeds.tape import TAPE_SOURCE, tick_event, vix_event
from tools.ops.allocation import RebalanceConfig

SET_SOURCE = "evals:bundled-daily"
TAPE_FILE, LABELS_FILE, MANIFEST_FILE = "tape.jsonl", "labels.jsonl", "manifest.json"
VOLUME_WINDOW = 20


@dataclass(frozen=True, slots=True)
class SetSpec:
    """What goes into one set: the event window (inclusive), the instruments and the label parameters."""

    name: str
    start: date
    end: date
    symbols: tuple[str, ...] | None = None  # None: the whole bundled universe
    horizon: int = DEFAULT_HORIZON  # bars
    stop: float = DEFAULT_STOP  # fraction
    target: float = DEFAULT_TARGET  # fraction
    volume_spike_ratio: float = 3.0
    warmup_days: int = WARMUP_DAYS
    screen: ScreenParams = field(default_factory=ScreenParams)
    bots: bool = False  # attribute each event to the reference bot whose universe holds its symbol


DEVELOPMENT = SetSpec("development", date(2012, 9, 1), date(2015, 12, 31))
HOLDOUT = SetSpec("holdout", date(2016, 1, 1), date(2017, 9, 30))
# The CI gate: small (about 150 events, a few seconds with the rules provider), inside the development window,
# and chosen so that every gated score can move: its vetoes both catch losers and forgo winners (hit rate
# strictly between 0 and 1), as do its orders and its analyst's views (`evals.gate.BOUNDS`).
GATE_SYMBOLS = ("AAPL", "AMZN", "BAC", "CVX", "GOOG", "JNJ", "JPM", "KO", "MSFT", "PFE", "WMT", "XOM")
GATE = SetSpec("gate", date(2015, 7, 1), date(2015, 12, 31), symbols=GATE_SYMBOLS)
STANDARD_SETS = (DEVELOPMENT, HOLDOUT)


@dataclass(frozen=True, slots=True)
class _Event:
    row: int
    kind: str
    raw: dict[str, Any]
    label: dict[str, Any]


def build_set(spec: SetSpec, out: Path, dataset: Dataset | None = None) -> Path:
    """Write the set `spec` into ``out / spec.name`` from `dataset` (None: the bundled data); that folder."""
    data = dataset or bundled_dataset()
    panel = data.panel.symbols_subset(list(spec.symbols)) if spec.symbols else data.panel
    _check_window(data, spec, panel)
    whole, panel = panel, panel.window(end=spec.end)
    first_row = max(bisect.bisect_left(panel.dates, spec.start), spec.warmup_days)
    if first_row >= len(panel.dates) - spec.horizon:
        earliest = whole.dates[spec.warmup_days] if len(whole.dates) > spec.warmup_days else None
        raise ValueError(
            f"set {spec.name!r}: no event can be labelled in {spec.start}..{spec.end}: an event needs "
            f"{spec.warmup_days} trading days of data before it (the screens' warm-up; the first event day this "
            f"data allows is {earliest or 'none'}) and {spec.horizon} after it inside the window (its label); "
            f"the data ({data.name}) covers {data.panel.dates[0]}..{data.panel.dates[-1]}"
        )
    source = None if data.source.startswith("tape:") else data.source
    events = sorted(
        _events(panel, spec, first_row, source, data.closes_only),
        key=lambda e: (e.row, _KIND_ORDER[e.kind], e.raw["id"]),
    )
    folder = out / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    tick_row = max(0, first_row - spec.warmup_days)
    by_row: dict[int, list[_Event]] = {}
    for event in events:
        by_row.setdefault(event.row, []).append(event)
    if spec.bots:
        _attribute_to_bots(panel, tick_row, first_row, events, folder / TAPE_FILE)
    _write_lines(folder / TAPE_FILE, _tape_lines(panel, tick_row, by_row, source or TAPE_SOURCE))
    _write_lines(folder / LABELS_FILE, (e.label for e in events))
    manifest = _manifest(panel, spec, first_row, tick_row, events) | _data_block(data)
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    return folder


_KIND_ORDER = {"vix_regime": 0, "trigger": 1, "volume_spike": 2}


def _check_window(data: Dataset, spec: SetSpec, panel: DailyPanel) -> None:
    """A window inside the data, else one line saying the data's range. (A window starting within the data's
    first `warmup_days` has its events from the end of the warm-up on, as the development set does.)"""
    first, last = panel.dates[0], panel.dates[-1]
    covers = f"the data ({data.name}) covers {first}..{last}"
    if spec.start > spec.end:
        raise ValueError(f"set {spec.name!r}: window {spec.start}..{spec.end} ends before it starts")
    if spec.end < first or spec.start > last:
        raise ValueError(f"set {spec.name!r}: window {spec.start}..{spec.end} is outside the data; {covers}")


def _data_block(data: Dataset) -> dict[str, Any]:
    block: dict[str, Any] = {
        "data": {
            "source": data.source,
            "name": data.name,
            "sha256": data.sha256,
            "real_fields": list(data.real_fields),
            "closes_only": data.closes_only,
        }
    }
    if data.closes_only:
        block["skipped"] = {"volume_spike": "closes-only data: volume unknown"}
    return block


def _attribute_to_bots(panel: DailyPanel, tick_row: int, first_row: int, events: list[_Event], tape: Path) -> None:
    """Give each event with a symbol the reference bot whose universe holds it (`bot_id`), and write the bots
    beside the tape (`<tape>.bots.json`), registered the day before the first event with the starting
    allocation `aegis run` gives them (minimum variance over the warm-up)."""
    bots = reference_bots(panel.symbols)
    owner = {symbol: bot.bot_id for bot in bots for symbol in bot.universe}
    for event in events:
        symbols = event.raw.get("symbols") or []
        if symbols and symbols[0] in owner:
            event.raw["bot_id"] = owner[symbols[0]]
    warmup = panel.window(start=panel.dates[tick_row])
    allocation, _ = starting_allocation(warmup, bots, first_row - tick_row, RebalanceConfig())
    registered = as_bots(bots, allocation, bar_time(panel.dates[first_row - 1]))
    text = json.dumps([bot.model_dump(mode="json") for bot in registered], indent=2) + "\n"
    tape_bots_path(tape).write_text(text, encoding="utf-8")


def _events(
    panel: DailyPanel, spec: SetSpec, first_row: int, source: str | None, closes_only: bool
) -> Iterator[_Event]:
    triggers = screen_panel(panel.open, panel.high, panel.low, panel.close, screen_volume(panel), spec.screen)
    surged = {(t.row, t.column) for t in triggers if t.signal == "volume_surge"}
    for trigger in triggers:
        if trigger.row >= first_row:
            yield from _labelled(panel, spec, trigger, "trigger", source)
    spikes = [] if closes_only else _volume_spikes(panel, spec.volume_spike_ratio)
    for row, column, direction, ratio in spikes:
        if row >= first_row and (row, column) not in surged:
            spike = Trigger(row, column, "volume_spike", direction, 1.0 - spec.volume_spike_ratio / ratio)
            yield from _labelled(panel, spec, spike, "volume_spike", source)
    yield from _vix_regimes(panel, spec, first_row, source)


def _labelled(panel: DailyPanel, spec: SetSpec, trigger: Trigger, kind: str, source: str | None) -> Iterator[_Event]:
    c, t = trigger.column, trigger.row
    bars = BarsAfter.of(panel.open[:, c], panel.high[:, c], panel.low[:, c], panel.close[:, c], t)
    try:
        label = label_long(bars, spec.horizon, spec.stop, spec.target)
    except IncompleteFutureError:
        return
    raw = signal_event(panel, trigger)
    raw["source"] = source or SET_SOURCE
    day = panel.dates[t]
    yield _Event(
        t,
        kind,
        raw,
        {
            "event_id": raw["id"],
            "kind": kind,
            "symbol": panel.symbols[c],
            "day": day.isoformat(),
            "signal": trigger.signal,
            "direction": trigger.direction,
            "exit_day": panel.dates[t + label.exit_offset].isoformat(),
            **label.to_json(),
        },
    )


def _volume_spikes(panel: DailyPanel, ratio: float) -> Iterator[tuple[int, int, str, float]]:
    """(row, column, direction, volume ratio) of the cells whose volume is `ratio` times the previous 20 bars' mean."""
    volume, close = panel.volume, panel.close
    for t in range(VOLUME_WINDOW, len(panel.dates)):
        with np.errstate(invalid="ignore", divide="ignore"):
            baseline = np.mean(volume[t - VOLUME_WINDOW : t], axis=0)
            ratios = volume[t] / baseline
            moves = np.sign(close[t] - close[t - 1])
        for c in range(len(panel.symbols)):
            if np.isfinite(ratios[c]) and baseline[c] > 0 and ratios[c] >= ratio and moves[c] != 0:
                yield t, c, "long" if moves[c] > 0 else "short", float(ratios[c])


def _vix_regimes(panel: DailyPanel, spec: SetSpec, first_row: int, source: str | None) -> Iterator[_Event]:
    for t in range(max(first_row, 1), len(panel.dates)):
        before, now = float(panel.vix[t - 1]), float(panel.vix[t])
        if not (math.isfinite(before) and math.isfinite(now)):
            continue
        old, new = posture_from_vix(before), posture_from_vix(now)
        if old == new:
            continue
        columns = range(len(panel.symbols))
        try:
            forward = basket_forward_return(
                [FutureView(panel.close[:, c], t) for c in columns],
                [FutureView(panel.open[:, c], t) for c in columns],
                spec.horizon,
            )
        except IncompleteFutureError:
            continue
        day = panel.dates[t]
        raw: dict[str, Any] = {
            "id": f"VIX-{day.isoformat()}-regime",
            "type": EventType.ECONOMIC_RELEASE.value,
            "source": source or SET_SOURCE,
            "symbols": [],
            "event_time": bar_time(day).isoformat(),
            "payload": {"indicator": f"VIX:{old}->{new}", "actual": now, "previous": before},
        }
        label = {
            "event_id": raw["id"],
            "kind": "vix_regime",
            "symbol": None,
            "day": day.isoformat(),
            "signal": f"{old}->{new}",
            "direction": None,
            "forward_return": round(forward, 10),
            "barrier": None,
            "exit_offset": spec.horizon,
            "exit_day": panel.dates[t + spec.horizon].isoformat(),
            "exit_return": None,
        }
        yield _Event(t, "vix_regime", raw, label)


def _tape_lines(
    panel: DailyPanel, tick_row: int, by_row: dict[int, list[_Event]], source: str
) -> Iterator[dict[str, Any]]:
    for t in range(tick_row, len(panel.dates)):
        for c, symbol in enumerate(panel.symbols):
            bar = panel_bar(panel, t, c)
            if bar is not None:
                yield tick_event(symbol, bar, source)
        vix = float(panel.vix[t])
        if math.isfinite(vix):
            yield vix_event(bar_time(panel.dates[t]), vix, source)
        for event in by_row.get(t, []):
            yield event.raw


def _manifest(panel: DailyPanel, spec: SetSpec, first_row: int, tick_row: int, events: list[_Event]) -> dict[str, Any]:
    rows = range(first_row, len(panel.dates))
    return {
        "name": spec.name,
        "window": [spec.start.isoformat(), spec.end.isoformat()],
        "symbols": list(panel.symbols),
        "horizon_bars": spec.horizon,
        "stop": spec.stop,
        "target": spec.target,
        "volume_spike_ratio": spec.volume_spike_ratio,
        "first_tick_day": panel.dates[tick_row].isoformat(),
        "first_event_day": panel.dates[first_row].isoformat(),
        "events": len(events),
        "events_by_kind": dict(sorted(Counter(e.kind for e in events).items())),
        "not_included": ["crypto one-minute shocks", "funding-rate extremes", "order-book imbalance"],
        "prices": {
            "dates": [panel.dates[t].isoformat() for t in rows],
            "close": {
                symbol: [_finite_or_none(panel.close[t, c]) for t in rows] for c, symbol in enumerate(panel.symbols)
            },
        },
    }


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _write_lines(path: Path, lines: Iterator[dict[str, Any]] | Any) -> None:
    text = "".join(json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n" for line in lines)
    path.write_text(text, encoding="utf-8")


def read_labels(folder: Path) -> dict[str, dict[str, Any]]:
    """The labels of a set by event id."""
    lines = (folder / LABELS_FILE).read_text(encoding="utf-8").splitlines()
    return {label["event_id"]: label for label in map(json.loads, lines) if label}


def read_manifest(folder: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    return manifest
