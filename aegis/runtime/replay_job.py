"""The main job (`aegis run`): replay real daily bars as a live feed on an accelerated clock.

Each trading day: the clock moves to that day's close; every symbol's bar reaches the broker (which fills
yesterday's orders at today's open and checks stops and targets) and the hot store; the VIX sets the
posture; the trigger screen picks the bars that become events; the day's events go through the
deliberation graph as one wave (`Pipeline.submit_wave`): up to `concurrency` at once, all reading the book
as of the day's close, their orders placed in screen order, so a run decides the same at any concurrency
(and `aegis replay` of its tape reproduces it). Decisions made on day t can only fill on day t+1: no look-ahead.

Stopping and resuming. The days decided are a record like the decisions: after each day's wave the job
writes how many trading days are decided (`PROGRESS_KEY`). A stop request (`stop`, set on the first ^C)
ends the run after the day in progress, so nothing is left half-written. A run started on records that
hold progress resumes them: every day's bars are fed again from the first, rebuilding the hot store, the
clock and the risk monitor (the broker ignores bars not newer than the last it booked, a mark restored with
its book, so nothing fills twice); the recorded decisions of the days decided go to the risk monitor and
the tally as they went the first time, without deliberating again; deliberation starts at the first day not
decided. A day cut short by a killed process is submitted again as a whole: its decided events return their
recorded decisions (sessions are idempotent by event id), the others are deliberated.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from aegis.llm_mode import provider_label
from aegis.pipeline import Pipeline
from aegis.runtime.book_exposure import compare_at_exposure
from aegis.runtime.bot_report import BotRow, bot_rows
from aegis.runtime.market_data import CLOSES_ONLY_NOTE, data_label, screen_volume, window_panel
from aegis.runtime.reference_bots import BotSignals, as_bots, reference_bots, starting_allocation
from aegis.runtime.signals import SOURCE as SIGNAL_SOURCE
from aegis.runtime.signals import signal_event
from aegis.runtime.summary import Percentiles, RunSummary, RunTally, marked_equity, read_records
from aegis.runtime.tape_bots import write_tape_bots
from aegis.settings import Settings
from quant.screen import ScreenParams, Trigger, screen_panel
from state.alerts import Alert
from state.bots import Bot
from state.clock import SimulatedClock
from state.decisions import DecisionRecord, Outcome
from tools.broker.paper import PaperBroker
from tools.feeds.bars import panel_bar
from tools.feeds.bundled import DailyPanel, bar_time
from tools.feeds.datasets import Dataset, bundled_dataset
from tools.feeds.tape import TAPE_SOURCE, EventTape, tick_event, vix_event

__all__ = ["WARMUP_DAYS", "DayProgress", "ReplayOptions", "RunStart", "run_replay", "signal_event"]

WARMUP_DAYS = 60  # bars fed before the first event, so the slow indicators have their history
BOTS_EVERY = 10  # trading days between refreshes of the live view's bot table (it reads the records)
PROGRESS_KEY = "run:days_decided"  # durable value: trading days of the window decided so far


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    symbols: tuple[str, ...] | None = None
    start: date | None = None
    end: date | None = None
    days_per_second: float = 100.0  # the accelerated clock; 0 = as fast as the pipeline goes
    concurrency: int = 4  # events of one day deliberated at once
    screen: ScreenParams = field(default_factory=ScreenParams)
    events_out: Path | None = None  # also write the run's ticks and signals as JSON lines (replayable)
    bots: bool = True  # the reference bots (`aegis.runtime.reference_bots`); False: one default bot
    dataset: Dataset | None = None  # the data to replay (None: the bundled data); imported data: one default bot


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
    catching_up: bool = False  # a resumed run going over days decided earlier (recorded decisions)
    bots: tuple[BotRow, ...] = ()  # the bots' table as of the last refresh (every `BOTS_EVERY` days)


@dataclass(frozen=True, slots=True)
class RunStart:
    """Where a run starts, known once its records are open: from the first day, or resuming."""

    days: int
    days_decided: int  # by earlier processes on these records
    next_day: date | None  # the first day this process deliberates (None: every day is decided)


async def run_replay(
    settings: Settings,
    options: ReplayOptions,
    on_day: Callable[[DayProgress], None] | None = None,
    on_alert: Callable[[Alert], None] | None = None,
    *,
    on_start: Callable[[RunStart], None] | None = None,
    stop: asyncio.Event | None = None,
    on_bots: Callable[[list[Bot], str], None] | None = None,
) -> RunSummary:
    """Run (or resume) the replay of `options`' window on the records in `settings.data_dir`; its summary,
    read from the records. With `stop` set, the run ends after the day in progress (the summary says how far
    it got: `RunSummary.days_decided`)."""
    started = time.perf_counter()
    dataset = options.dataset or bundled_dataset()
    imported = options.dataset is not None and not dataset.source.startswith("tape:")
    panel = window_panel(
        dataset, options.symbols, options.start, options.end, needs_days=WARMUP_DAYS, needs_why="the replay ..."
    )
    tick_source, signal_source = (dataset.source, dataset.source) if imported else (TAPE_SOURCE, SIGNAL_SOURCE)
    triggers: dict[int, list[Trigger]] = {}
    volume = screen_volume(panel)  # closes-only cells: screened on their closes, the volume rule cannot fire
    for trigger in screen_panel(panel.open, panel.high, panel.low, panel.close, volume, options.screen):
        if trigger.row >= WARMUP_DAYS:
            triggers.setdefault(trigger.row, []).append(trigger)

    clock = SimulatedClock(bar_time(panel.dates[0]))
    pipeline = await Pipeline.open(settings, clock=clock)
    tally = RunTally()
    pipeline.alerting.listen(tally.alert)
    if on_alert is not None:
        pipeline.alerting.listen(on_alert)
    store = pipeline.services.store
    broker = pipeline.paper_broker
    tape = EventTape(options.events_out) if options.events_out else None

    async def submitted(event: Mapping[str, Any]) -> DecisionRecord:
        """The bot supervisor's events (rebalancing, breaker) go to the tape too, so it replays them."""
        if tape:
            tape.write(dict(event))
        decision = await pipeline.submit(event)
        tally.recall(decision)  # counted with the day's events; not a deliberation, not timed
        return decision

    feed = pipeline.market_feed(submit=submitted, market=panel.symbols)  # the basket is the posture's market
    first_open = panel.open[WARMUP_DAYS]
    seconds_per_day = 1.0 / options.days_per_second if options.days_per_second > 0 else 0.0

    try:
        # The reference bots trade the bundled tickers; on imported data one default bot takes every signal.
        reference = reference_bots(panel.symbols) if options.bots and not imported else []
        signals = BotSignals(panel, reference) if reference else None
        decided_before = days_decided = await _days_decided(pipeline, len(panel.dates))
        bot_table: tuple[BotRow, ...] = ()
        if on_start is not None:
            next_day = panel.dates[days_decided] if days_decided < len(panel.dates) else None
            on_start(RunStart(len(panel.dates), days_decided, next_day))
        for t, day in enumerate(panel.dates):
            if stop is not None and stop.is_set():
                break
            day_started = time.perf_counter()
            if t == WARMUP_DAYS and signals is not None:  # the bots start with the first day decided
                await _register_bots(pipeline, panel, on_bots)
                await write_tape_bots(options.events_out, await pipeline.bots.bots())
            # A day decided in full has its bots' and anomalies' events recorded; the warm-up is history only.
            feed.supervising = t >= max(decided_before, WARMUP_DAYS)
            await feed.advance(bar_time(day))
            for c, symbol in enumerate(panel.symbols):
                bar = panel_bar(panel, t, c)
                if bar is not None:
                    if tape:
                        tape.write(tick_event(symbol, bar, tick_source))
                    await feed.bar(symbol, bar)
            vix, vix_day = float(panel.vix[t]), panel.vix_day(t)
            await feed.vix(vix if np.isfinite(vix) else None, as_of=bar_time(vix_day) if vix_day else None)
            if tape and np.isfinite(vix) and vix_day == day:  # a value carried forward is no new reading
                tape.write(vix_event(bar_time(day), vix, tick_source))
            if signals is None:
                events = [signal_event(panel, tr, source=signal_source) for tr in triggers.get(t, [])]
            else:
                holders = {symbol: p.bot_id for symbol, p in broker.positions().items()}
                events = signals.events(t, triggers.get(t, []), holders) if t >= WARMUP_DAYS else []
            if tape:
                tape.write_all(events)
            await _decide_day(pipeline, events, tally, options.concurrency, recorded=t <= decided_before)
            if t >= days_decided:
                days_decided = t + 1
                await store.put_value(PROGRESS_KEY, days_decided, clock.now())
            catching_up = t < decided_before
            if on_day is not None:
                if signals is not None and t >= WARMUP_DAYS and (t % BOTS_EVERY == 0 or t + 1 == len(panel.dates)):
                    bot_table = tuple(await bot_rows(store))
                posture = str((await pipeline.posture.current()).posture)
                progress = _progress(panel, t, day, vix, posture, broker, tally, first_open, settings, catching_up)
                on_day(dataclasses.replace(progress, bots=bot_table))
            spare = seconds_per_day - (time.perf_counter() - day_started)
            if spare > 0 and not catching_up:
                await _pause(spare, stop)
        await feed.finish()  # the day in progress closes: its report
        records = await read_records(store, settings.starting_cash)
        bots = await bot_rows(store)
        fills = await store.fills()
    finally:
        await pipeline.close()
        if tape:
            tape.close()

    complete = days_decided == len(panel.dates)
    last = days_decided - 1
    benchmark = float(np.nanmean(panel.close[last] / first_open) - 1.0) if last >= WARMUP_DAYS else 0.0
    at_exposure = compare_at_exposure(fills, panel, WARMUP_DAYS, last, settings.starting_cash)
    warmup = f"first {WARMUP_DAYS} days warm-up"
    decided = f"{days_decided} of {len(panel.dates)} trading days decided, {warmup}"
    return RunSummary(
        window=f"{panel.dates[0]} .. {panel.dates[-1] if complete else panel.dates[max(last, 0)]} "
        f"({warmup if complete else decided})",
        symbols=len(panel.symbols),
        trading_days=len(panel.dates),
        events=sum(records.outcomes.values()),
        deliberations=records.deliberations,
        screened_out=records.count(Outcome.SCREENED_OUT),
        vetoes=records.count(Outcome.VETOED),
        holds=records.count(Outcome.HOLD),
        blocked=records.count(Outcome.BLOCKED) + records.count(Outcome.EXECUTION_FAILED),
        orders=records.count(Outcome.ORDERED),
        fills=records.fills,
        rejected=records.count(Outcome.REJECTED),
        failed_sessions=records.failed_sessions,
        start_equity=settings.starting_cash,
        end_equity=records.equity,
        benchmark_return=benchmark,
        average_exposure=None if at_exposure is None else at_exposure.average_exposure,
        exposure_matched_return=None if at_exposure is None else at_exposure.benchmark_return,
        latencies={stage: Percentiles.of(v) for stage, v in tally.latencies_ms.items()},
        wall_seconds=time.perf_counter() - started,
        records=str(settings.data_dir),
        providers=provider_label(settings),
        llm_cost_usd=records.llm_cost_usd,
        alerts=dict(records.alerts),
        days_decided=days_decided,
        last_decided=panel.dates[last] if last >= 0 else None,
        decided_here=tally.decided_here,
        operations=records.operations,
        anomalies=records.anomalies,
        bots=tuple(bots),
        postures=records.postures,
        data=data_label(dataset) if imported else None,
        real_fields=dataset.real_fields,
        data_note=CLOSES_ONLY_NOTE if dataset.closes_only else None,
    )


async def _register_bots(
    pipeline: Pipeline, panel: DailyPanel, on_bots: Callable[[list[Bot], str], None] | None
) -> None:
    """Register the reference bots with their starting allocation, on records that hold no bots (a resumed
    run keeps its bots, allocations and states)."""
    registered = await pipeline.bots.bots()
    how = "registered earlier on these records"
    if not registered:
        bots = reference_bots(panel.symbols)
        allocation, how = starting_allocation(panel, bots, WARMUP_DAYS, pipeline.settings.rebalance)
        registered = await pipeline.bots.register(
            as_bots(bots, allocation, pipeline.services.clock.now()), actor="aegis run", reason=f"reference bots: {how}"
        )
    if on_bots is not None:
        on_bots(registered, how)


async def _pause(seconds: float, stop: asyncio.Event | None) -> None:
    """The accelerated clock's wait between days, cut short by a stop request."""
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()


async def _days_decided(pipeline: Pipeline, days: int) -> int:
    """The trading days the records say are decided (0 on fresh records)."""
    held = await pipeline.services.store.get_value(PROGRESS_KEY)
    decided = 0 if held is None else held[0]
    if not isinstance(decided, int) or not 0 <= decided <= days:
        raise ValueError(f"the records hold {decided!r} trading days decided; this window has {days}")
    return decided


async def _decide_day(
    pipeline: Pipeline, events: list[dict[str, object]], tally: RunTally, concurrency: int, *, recorded: bool
) -> None:
    """Deliberate the day's events as one wave. With `recorded` (a day an earlier process of the run got to),
    the decisions held already are recalled instead: handed to the risk monitor in the wave's order, as the
    first time; a day cut short is submitted as a whole, its decided events returning their records."""
    held: dict[str, DecisionRecord] = {}
    if recorded:
        for event in events:
            decision = await pipeline.services.store.get_decision(str(event["id"]))
            if decision is not None:
                held[decision.event_id] = decision
        if len(held) == len(events):
            for decision in held.values():
                tally.recall(decision)
                await pipeline.monitor.session_decided(decision)
            return

    def on_decision(decision: DecisionRecord, session_ms: float) -> None:
        if decision.event_id in held:
            tally.recall(decision)
        else:
            tally.add(decision, session_ms)

    await pipeline.submit_wave(events, concurrency=max(1, concurrency), on_decision=on_decision)


def _progress(
    panel: DailyPanel,
    t: int,
    day: date,
    vix: float,
    posture: str,
    broker: PaperBroker,
    tally: RunTally,
    first_open: np.ndarray,
    settings: Settings,
    catching_up: bool,
) -> DayProgress:
    marks = broker.marks()
    positions = {s: (p.quantity, p.avg_price, marks.get(s, p.avg_price)) for s, p in broker.positions().items()}
    basket = float(np.nanmean(panel.close[t] / first_open)) if t >= WARMUP_DAYS else 1.0
    return DayProgress(
        day=day,
        index=t,
        days=len(panel.dates),
        vix=vix,
        posture=posture,
        equity=marked_equity(broker.cash(), broker.positions().values(), marks),
        benchmark_equity=settings.starting_cash * basket,
        positions=positions,
        tally=tally,
        catching_up=catching_up,
    )
