"""The tally of a run: outcomes, trades, P&L against buy-and-hold (100 % invested, and at the book's average
exposure: `aegis.runtime.book_exposure`), and stage latencies.

The summary's counts and P&L are read from the run's records (`read_records`), never from what one
process happened to see: after an interrupted, resumed or killed-and-resumed run they are what the store
holds, and a resumed run ends with the summary of the same run made in one go. Only the latencies (and
the wall time) are this process's: the `RunTally` it kept while deciding.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from aegis.runtime.bot_report import BotRow, table_lines
from state.alerts import Alert
from state.decisions import DecisionRecord, Outcome
from state.events import EventType
from state.orders import Position
from state.store.base import DurableStore

LATENCY_STAGES = ("analyst", "validator", "commander", "session")
POSTURES_SHOWN = 3  # the last posture changes a summary lists
OPERATION_TYPES = (
    EventType.REBALANCING_DUE.value,
    EventType.CIRCUIT_BREAKER.value,
    EventType.ANOMALY_DETECTED.value,
    EventType.BOT_STATUS.value,
    EventType.ORDER_FILLED.value,
    EventType.SYSTEM_HEALTH.value,
    EventType.ECONOMIC_RELEASE.value,
)


def marked_equity(cash: float, positions: Iterable[Position], marks: Mapping[str, float]) -> float:
    """Cash plus every position at its mark (at its average price without one), summed exactly in symbol
    order, so one book gives one number whoever holds it (the running broker or the store)."""
    held = sorted(positions, key=lambda p: p.symbol)
    return math.fsum([cash, *(p.quantity * marks.get(p.symbol, p.avg_price) for p in held)])


@dataclass
class RunTally:
    """Accumulates decisions and timings while a run goes on (what the live view shows)."""

    outcomes: Counter[str] = field(default_factory=Counter)
    failed_sessions: int = 0
    deliberations: int = 0
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in LATENCY_STAGES})
    recent: list[DecisionRecord] = field(default_factory=list)
    llm_cost_usd: float = 0.0
    alerts: Counter[str] = field(default_factory=Counter)  # by level
    recent_alerts: list[Alert] = field(default_factory=list)

    def alert(self, alert: Alert) -> None:
        self.alerts[str(alert.level)] += 1
        self.recent_alerts = [alert, *self.recent_alerts[:4]]

    def add(self, decision: DecisionRecord, session_ms: float) -> None:
        """A decision this process deliberated, and the wall-clock ms it took."""
        self.recall(decision)
        for stage in decision.stages:
            if stage.stage in self.latencies_ms:
                self.latencies_ms[stage.stage].append(stage.latency_ms)
        self.latencies_ms["session"].append(session_ms)

    def recall(self, decision: DecisionRecord) -> None:
        """A decision recorded by an earlier process of a resumed run: counted, its latencies not timed here."""
        self.outcomes[str(decision.outcome)] += 1
        self.failed_sessions += decision.failed
        if decision.analysis is not None:
            self.deliberations += 1
        self.llm_cost_usd += decision.llm_usage.cost_usd
        self.recent = [decision, *self.recent[:9]]

    @property
    def events(self) -> int:
        return sum(self.outcomes.values())

    @property
    def decided_here(self) -> int:
        """Sessions this process deliberated."""
        return len(self.latencies_ms["session"])

    def count(self, outcome: Outcome) -> int:
        return self.outcomes.get(str(outcome), 0)

    def count_of(self, outcome: str) -> int:
        return self.outcomes.get(outcome, 0)


@dataclass(frozen=True, slots=True)
class Records:
    """What a run's records hold: decisions by outcome, fills, the book marked at the last prices, alerts."""

    outcomes: Mapping[str, int]
    deliberations: int
    failed_sessions: int
    llm_cost_usd: float
    fills: int
    equity: float
    alerts: Mapping[str, int]  # by level
    operations: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (event type, outcome) of the flows
    anomalies: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (rule, severity) found
    postures: tuple[str, ...] = ()  # the posture history, oldest first: "at posture: cause"

    def count(self, outcome: Outcome) -> int:
        return self.outcomes.get(str(outcome), 0)


async def read_records(store: DurableStore, starting_cash: float) -> Records:
    """The run's totals as `store` holds them (a never-saved cash balance is the starting cash)."""
    decisions = await store.decisions()
    book = await store.account_book()
    alerts = await store.alerts(limit=sys.maxsize)
    return Records(
        outcomes=Counter(str(d.outcome) for d in decisions),
        deliberations=sum(d.analysis is not None for d in decisions),
        failed_sessions=sum(d.failed for d in decisions),
        llm_cost_usd=math.fsum(d.llm_usage.cost_usd for d in decisions),
        fills=len(await store.fills()),
        equity=marked_equity(starting_cash if book.cash is None else book.cash, book.positions, book.marks),
        alerts=Counter(str(a.level) for a in alerts),
        operations=Counter((d.event_type, str(d.outcome)) for d in decisions if d.event_type in OPERATION_TYPES),
        anomalies=Counter(
            (str(d.operation.get("rule")), str(d.operation.get("severity")))
            for d in decisions
            if d.event_type == EventType.ANOMALY_DETECTED.value and d.operation is not None
        ),
        postures=tuple(
            f"{at:%Y-%m-%d %H:%M} {posture}: {why}" for at, posture, why, _ in await store.posture_history()
        ),
    )


@dataclass(frozen=True, slots=True)
class Percentiles:
    p50: float
    p95: float
    p99: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Percentiles:
        if not values:
            return cls(float("nan"), float("nan"), float("nan"), 0)
        p50, p95, p99 = np.percentile(np.asarray(values), [50, 95, 99])
        return cls(float(p50), float(p95), float(p99), len(values))


@dataclass(frozen=True, slots=True)
class RunSummary:
    window: str
    symbols: int
    trading_days: int
    events: int
    deliberations: int
    screened_out: int
    vetoes: int
    holds: int
    blocked: int
    orders: int
    fills: int
    rejected: int
    failed_sessions: int
    start_equity: float
    end_equity: float
    benchmark_return: float  # fraction
    latencies: dict[str, Percentiles]  # of the sessions this process deliberated
    wall_seconds: float  # this process
    records: str
    providers: str
    llm_cost_usd: float
    alerts: dict[str, int] = field(default_factory=dict)  # by level
    days_decided: int | None = None  # None: every trading day
    last_decided: date | None = None  # the last trading day decided
    decided_here: int | None = None  # sessions this process deliberated; None: all of them
    operations: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (event type, outcome) of the flows
    bots: tuple[BotRow, ...] = ()
    anomalies: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (rule, severity) found
    postures: tuple[str, ...] = ()  # every posture change with its cause, oldest first
    data: str | None = None  # which data the run read (None: the bundled data)
    real_fields: tuple[str, ...] = ("open", "high", "low", "close", "volume")  # the fields the data really holds
    data_note: str | None = None  # what the data leaves out and how the run deals with it (closes-only data)
    average_exposure: float | None = None  # the book's gross exposure, fraction of the starting capital
    exposure_matched_return: float | None = None  # the basket at the book's exposure of each day, fraction

    @property
    def strategy_return(self) -> float:
        return self.end_equity / self.start_equity - 1.0

    @property
    def complete(self) -> bool:
        return self.days_decided is None or self.days_decided >= self.trading_days

    @property
    def in_part_here(self) -> bool:
        """Some of the run's sessions were deliberated by an earlier process (a resumed run)."""
        return self.decided_here is not None and self.decided_here < self.events

    def _operations(self) -> str:
        if not self.operations:
            return ""
        rebalancing = {o: n for (t, o), n in self.operations.items() if t == EventType.REBALANCING_DUE.value}
        breaker = {o: n for (t, o), n in self.operations.items() if t == EventType.CIRCUIT_BREAKER.value}
        signals = self.events - sum(self.operations.values())
        parts = [f"{signals} market"]
        if rebalancing:
            parts.append(
                f"rebalancing {rebalancing.get('applied', 0)} applied / {rebalancing.get('skipped', 0)} skipped"
            )
        if breaker:
            parts.append(f"circuit breaker {breaker.get('applied', 0)} tripped")
        anomalies = {o: n for (t, o), n in self.operations.items() if t == EventType.ANOMALY_DETECTED.value}
        if anomalies:
            parts.append(f"anomalies {sum(anomalies.values())}, {anomalies.get('applied', 0)} acted on")
        return f"  ({', '.join(parts)})"

    def _exposure(self) -> list[str]:
        if self.average_exposure is None or self.exposure_matched_return is None:
            return []
        return [
            f"  book exposure        {self.average_exposure:.2%} of the capital on average;"
            f" buy-and-hold at the book's exposure {self.exposure_matched_return:+.2%}"
        ]

    def _anomalies(self) -> list[str]:
        """One line per anomaly rule that fired: how often, by severity."""
        rules: dict[str, Counter[str]] = {}
        for (rule, severity), n in self.anomalies.items():
            rules.setdefault(rule, Counter())[severity] += n
        lines = []
        for rule, severities in sorted(rules.items()):
            by_level = ", ".join(f"{level} {n}" for level, n in sorted(severities.items()))
            lines.append(f"    {rule:<22} {sum(severities.values()):>5}  ({by_level})")
        return lines

    def lines(self) -> list[str]:
        head = (
            f"AEGIS run summary: {self.window}, {self.symbols} symbols, {self.trading_days} trading days"
            if self.complete
            else f"AEGIS run summary so far: {self.window}, {self.symbols} symbols"
        )
        here = " (this process)" if self.in_part_here else ""
        out = [
            head,
            *([f"  data                 {self.data}"] if self.data else []),
            f"  real fields          {', '.join(self.real_fields)}"
            + (f"  ({self.data_note})" if self.data_note else ""),
            f"  roles                {self.providers}",
            f"  events               {self.events}{self._operations()}",
            f"  deliberations        {self.deliberations}  (screened out without LLM: {self.screened_out})",
            f"  vetoes               {self.vetoes}",
            f"  holds                {self.holds}",
            f"  guard blocks         {self.blocked}",
            f"  orders / fills       {self.orders} / {self.fills}",
            f"  rejected events      {self.rejected}",
            f"  failed sessions      {self.failed_sessions}",
            f"  P&L                  {self.end_equity - self.start_equity:+,.2f} ({self.strategy_return:+.2%})"
            f"  vs buy-and-hold of the basket {self.benchmark_return:+.2%} (100 % invested)",
            *self._exposure(),
            f"  stage latency (ms)   p50      p95      p99      n{here}",
        ]
        for stage, p in self.latencies.items():
            out.append(f"    {stage:<18} {p.p50:<8.2f} {p.p95:<8.2f} {p.p99:<8.2f} {p.n}")
        if self.anomalies:
            found = sum(self.anomalies.values())
            out.append(f"  anomalies            {found}, answered by the rules: aegis alerts list")
            out.extend(self._anomalies())
        if self.bots:
            out.append(f"  bots                 {len(self.bots)}: aegis bots list")
            out.extend(table_lines(self.bots, indent="    "))
        if self.postures:
            out.append(f"  posture changes      {len(self.postures)}: aegis posture (the last {POSTURES_SHOWN} here)")
            out.extend(f"    {change}" for change in self.postures[-POSTURES_SHOWN:])
        out.append(f"  LLM cost             ${self.llm_cost_usd:.4f}")
        if self.alerts:
            levels = ", ".join(f"{level} {n}" for level, n in sorted(self.alerts.items()))
            out.append(f"  alerts               {sum(self.alerts.values())} ({levels}): aegis alerts list")
        out.append(f"  wall time            {self.wall_seconds:.1f} s{here}")
        out.append(f"  records              {self.records}")
        return out
