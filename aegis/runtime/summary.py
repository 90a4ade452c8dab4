"""The tally of a run: outcomes, trades, P&L against buy-and-hold, and stage latencies."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from state.alerts import Alert
from state.decisions import DecisionRecord, Outcome

LATENCY_STAGES = ("analyst", "validator", "commander", "session")


@dataclass
class RunTally:
    """Accumulates decisions and timings while a run goes on."""

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
        self.outcomes[str(decision.outcome)] += 1
        self.failed_sessions += decision.failed
        if decision.analysis is not None:
            self.deliberations += 1
        for stage in decision.stages:
            if stage.stage in self.latencies_ms:
                self.latencies_ms[stage.stage].append(stage.latency_ms)
        self.latencies_ms["session"].append(session_ms)
        self.llm_cost_usd += decision.llm_usage.cost_usd
        self.recent = [decision, *self.recent[:9]]

    @property
    def events(self) -> int:
        return sum(self.outcomes.values())

    def count(self, outcome: Outcome) -> int:
        return self.outcomes.get(str(outcome), 0)

    def count_of(self, outcome: str) -> int:
        return self.outcomes.get(outcome, 0)


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
    latencies: dict[str, Percentiles]
    wall_seconds: float
    records: str
    providers: str
    llm_cost_usd: float
    alerts: dict[str, int] = field(default_factory=dict)  # by level

    @property
    def strategy_return(self) -> float:
        return self.end_equity / self.start_equity - 1.0

    def lines(self) -> list[str]:
        out = [
            f"AEGIS run summary: {self.window}, {self.symbols} symbols, {self.trading_days} trading days",
            f"  roles                {self.providers}",
            f"  events               {self.events}",
            f"  deliberations        {self.deliberations}  (screened out without LLM: {self.screened_out})",
            f"  vetoes               {self.vetoes}",
            f"  holds                {self.holds}",
            f"  guard blocks         {self.blocked}",
            f"  orders / fills       {self.orders} / {self.fills}",
            f"  rejected events      {self.rejected}",
            f"  failed sessions      {self.failed_sessions}",
            f"  P&L                  {self.end_equity - self.start_equity:+,.2f} ({self.strategy_return:+.2%})"
            f"  vs buy-and-hold of the basket {self.benchmark_return:+.2%}",
            "  stage latency (ms)   p50      p95      p99      n",
        ]
        for stage, p in self.latencies.items():
            out.append(f"    {stage:<18} {p.p50:<8.2f} {p.p95:<8.2f} {p.p99:<8.2f} {p.n}")
        out.append(f"  LLM cost             ${self.llm_cost_usd:.4f}")
        if self.alerts:
            levels = ", ".join(f"{level} {n}" for level, n in sorted(self.alerts.items()))
            out.append(f"  alerts               {sum(self.alerts.values())} ({levels}): aegis alerts list")
        out.append(f"  wall time            {self.wall_seconds:.1f} s")
        out.append(f"  records              {self.records}")
        return out
