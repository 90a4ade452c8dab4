"""The main job (`aegis run`): replay real daily bars as a live feed on an accelerated clock.

Each trading day: the clock moves to that day's close; every symbol's bar reaches the broker (which fills
yesterday's orders at today's open and checks stops and targets) and the hot store; the VIX sets the
posture; the trigger screen picks the bars that become events; the day's events go through the
deliberation graph as one wave (`Pipeline.submit_wave`): up to `concurrency` at once, all reading the book
as of the day's close, their orders placed in screen order, so a run decides the same at any concurrency
(and `aegis replay` of its tape reproduces it). Decisions made on day t can only fill on day t+1: no look-ahead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from aegis.llm_mode import provider_label
from aegis.pipeline import Pipeline
from aegis.runtime.summary import Percentiles, RunSummary, RunTally
from aegis.settings import Settings
from quant.posture import posture_from_vix
from quant.screen import ScreenParams, Trigger, screen_panel
from state.alerts import Alert
from state.clock import SimulatedClock
from state.decisions import Outcome
from state.events import EventType
from tools.broker.paper import PaperBroker
from tools.feeds.bars import panel_bar
from tools.feeds.bundled import DailyPanel, bar_time, load_bundled_daily
from tools.feeds.tape import EventTape, tick_event, vix_event

WARMUP_DAYS = 60  # bars fed before the first event, so the slow indicators have their history


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    symbols: tuple[str, ...] | None = None
    start: date | None = None
    end: date | None = None
    days_per_second: float = 100.0  # the accelerated clock; 0 = as fast as the pipeline goes
    concurrency: int = 4  # events of one day deliberated at once
    screen: ScreenParams = field(default_factory=ScreenParams)
    events_out: Path | None = None  # also write the run's ticks and signals as JSON lines (replayable)


@dataclass(frozen=True, slots=True)
class DayProgress:
    """What the live view shows after each trading day."""

    day: date
    index: int
    days: int
    vix: float
    posture: str
    equity: float
    benchmark_equity: float
    positions: dict[str, tuple[float, float, float]]  # symbol -> (quantity, avg price, mark)
    tally: RunTally  # live: it keeps counting after this day


def signal_event(panel: DailyPanel, trigger: Trigger) -> dict[str, object]:
    day, symbol = panel.dates[trigger.row], panel.symbols[trigger.column]
    at = bar_time(day)
    t, c = trigger.row, trigger.column
    return {
        "id": f"{symbol}-{day.isoformat()}-{trigger.signal}",
        "type": EventType.SIGNAL_GENERATED.value,
        "source": "replay:bundled-daily",
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


async def run_replay(
    settings: Settings,
    options: ReplayOptions,
    on_day: Callable[[DayProgress], None] | None = None,
    on_alert: Callable[[Alert], None] | None = None,
) -> RunSummary:
    started = time.perf_counter()
    panel = load_bundled_daily(options.symbols, options.start, options.end)
    if len(panel.dates) <= WARMUP_DAYS:
        raise ValueError(f"the window has {len(panel.dates)} trading days; the replay needs more than {WARMUP_DAYS}")
    triggers: dict[int, list[Trigger]] = {}
    for trigger in screen_panel(panel.open, panel.high, panel.low, panel.close, panel.volume, options.screen):
        if trigger.row >= WARMUP_DAYS:
            triggers.setdefault(trigger.row, []).append(trigger)

    clock = SimulatedClock(bar_time(panel.dates[0]))
    pipeline = await Pipeline.open(settings, clock=clock)
    tally = RunTally()
    pipeline.alerting.listen(tally.alert)
    if on_alert is not None:
        pipeline.alerting.listen(on_alert)
    broker = pipeline.paper_broker
    feed = pipeline.market_feed()
    tape = EventTape(options.events_out) if options.events_out else None
    first_open = panel.open[WARMUP_DAYS]
    start_equity = broker.equity()
    seconds_per_day = 1.0 / options.days_per_second if options.days_per_second > 0 else 0.0

    try:
        for t, day in enumerate(panel.dates):
            day_started = time.perf_counter()
            await feed.advance(bar_time(day))
            for c, symbol in enumerate(panel.symbols):
                bar = panel_bar(panel, t, c)
                if bar is not None:
                    await feed.bar(symbol, bar)
                    if tape:
                        tape.write(tick_event(symbol, bar))
            vix = float(panel.vix[t])
            await feed.vix(vix if np.isfinite(vix) else None)
            if tape and np.isfinite(vix):
                tape.write(vix_event(bar_time(day), vix))
            events = [signal_event(panel, tr) for tr in triggers.get(t, [])]
            if tape:
                tape.write_all(events)
            await pipeline.submit_wave(events, concurrency=max(1, options.concurrency), on_decision=tally.add)
            if on_day is not None:
                on_day(_progress(panel, t, day, vix, broker, tally, first_open, start_equity, settings))
            spare = seconds_per_day - (time.perf_counter() - day_started)
            if spare > 0:
                await asyncio.sleep(spare)
    finally:
        await pipeline.close()
        if tape:
            tape.close()

    last = len(panel.dates) - 1
    benchmark = float(np.nanmean(panel.close[last] / first_open) - 1.0)
    return RunSummary(
        window=f"{panel.dates[0]} .. {panel.dates[-1]} (first {WARMUP_DAYS} days warm-up)",
        symbols=len(panel.symbols),
        trading_days=len(panel.dates),
        events=tally.events,
        deliberations=tally.deliberations,
        screened_out=tally.count(Outcome.SCREENED_OUT),
        vetoes=tally.count(Outcome.VETOED),
        holds=tally.count(Outcome.HOLD),
        blocked=tally.count(Outcome.BLOCKED) + tally.count(Outcome.EXECUTION_FAILED),
        orders=tally.count(Outcome.ORDERED),
        fills=feed.fills,
        rejected=tally.count(Outcome.REJECTED),
        failed_sessions=tally.failed_sessions,
        start_equity=start_equity,
        end_equity=broker.equity(),
        benchmark_return=benchmark,
        latencies={stage: Percentiles.of(v) for stage, v in tally.latencies_ms.items()},
        wall_seconds=time.perf_counter() - started,
        records=str(settings.data_dir),
        providers=provider_label(settings),
        llm_cost_usd=tally.llm_cost_usd,
        alerts=dict(tally.alerts),
    )


def _progress(
    panel: DailyPanel,
    t: int,
    day: date,
    vix: float,
    broker: PaperBroker,
    tally: RunTally,
    first_open: np.ndarray,
    start_equity: float,
    settings: Settings,
) -> DayProgress:
    marks = broker.marks()
    positions = {s: (p.quantity, p.avg_price, marks.get(s, p.avg_price)) for s, p in broker.positions().items()}
    basket = float(np.nanmean(panel.close[t] / first_open)) if t >= WARMUP_DAYS else 1.0
    return DayProgress(
        day=day,
        index=t,
        days=len(panel.dates),
        vix=vix,
        posture=str(posture_from_vix(vix, settings.deliberation.vix_thresholds)),
        equity=broker.equity(),
        benchmark_equity=start_equity * basket,
        positions=positions,
        tally=tally,
    )
