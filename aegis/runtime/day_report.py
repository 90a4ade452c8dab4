"""One trading day as the operators read it after the close: its tally, its report (Markdown and a PNG of
the account's equity day by day) and the archive of its records.

This module owns what a day's report says and where it is written (`<reports>/<day>.md`, `<day>.png`,
`<day>.records.jsonl.gz`: the day's decisions, fills and alerts, one JSON object per line, so the day can be
read back without the stores). It is fed as the day goes (`DayTally`), never by reading the whole records.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from state.alerts import Alert
from state.decisions import DecisionRecord
from state.orders import Fill

PERCENTILE = 0.95


@dataclass(slots=True)
class DayTally:
    """What happened on one day, as it happened: decisions, fills, alerts, session times."""

    day: date
    decisions: list[DecisionRecord] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)

    def session_ms(self) -> list[float]:
        """Each deliberated session's time: the sum of its stages' latencies."""
        return [sum(s.latency_ms for s in d.stages) for d in self.decisions if d.stages]

    def outcomes(self) -> Counter[str]:
        return Counter(str(d.outcome) for d in self.decisions)


@dataclass(frozen=True, slots=True)
class DayFigures:
    """The account at the day's close."""

    equity: float
    day_start_equity: float
    cash: float
    positions: int
    cancelled_orders: Sequence[str]
    checks: Sequence[str]  # one line per check: what it found
    ready: bool
    readiness: Sequence[str]  # why not ready (empty: ready)


def percentile(values: Sequence[float], q: float = PERCENTILE) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def render(tally: DayTally, figures: DayFigures, chart: str | None) -> str:
    """The day's report in Markdown."""
    pnl = figures.equity - figures.day_start_equity
    pct = pnl / figures.day_start_equity * 100 if figures.day_start_equity else 0.0
    outcomes = ", ".join(f"{name} {n}" for name, n in sorted(tally.outcomes().items())) or "none"
    fills = Counter(str(f.reason) for f in tally.fills)
    alerts = Counter(str(a.level) for a in tally.alerts)
    p95 = percentile(tally.session_ms())
    anomalies = [d for d in tally.decisions if d.event_type == "ANOMALY_DETECTED"]
    lines = [
        f"# AEGIS daily report {tally.day.isoformat()}",
        "",
        "| | |",
        "|---|---|",
        f"| equity at the close | {figures.equity:,.2f} ({pnl:+,.2f}, {pct:+.2f} % on the day) |",
        f"| cash / positions | {figures.cash:,.2f} / {figures.positions} |",
        f"| decisions | {len(tally.decisions)} ({outcomes}) |",
        f"| failed sessions | {sum(d.failed for d in tally.decisions)} |",
        f"| session time p95 | {'n/a' if p95 is None else f'{p95:.1f} ms'} |",
        f"| fills | {len(tally.fills)} ({', '.join(f'{k} {n}' for k, n in sorted(fills.items())) or 'none'}) |",
        f"| alerts | {len(tally.alerts)} ({', '.join(f'{k} {n}' for k, n in sorted(alerts.items())) or 'none'}) |",
        f"| anomalies | {len(anomalies)} |",
        f"| orders cancelled after the close | {len(figures.cancelled_orders)} |",
        f"| ready for the next day | {'yes' if figures.ready else 'no: ' + '; '.join(figures.readiness)} |",
        "",
        "## Checks",
        "",
        *[f"- {line}" for line in figures.checks],
    ]
    if anomalies:
        lines += ["", "## Anomalies", "", *[f"- {d.event_id}: {d.reason}" for d in anomalies]]
    if tally.alerts:
        lines += ["", "## Alerts", "", *[f"- {a.level} {a.kind}: {a.message}" for a in tally.alerts]]
    if chart is not None:
        lines += ["", f"![equity]({chart})"]
    return "\n".join(lines) + "\n"


def write_chart(path: Path, equity: Mapping[date, float]) -> None:
    """The account's equity at each reported day's close."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    days = sorted(equity)
    figure, axes = plt.subplots(figsize=(8, 3), dpi=80)
    axes.plot(np.array(days, dtype="datetime64[D]"), [equity[d] for d in days], linewidth=1.2)
    axes.set_title(f"equity at the close, to {days[-1].isoformat()}")
    axes.grid(alpha=0.3)
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def write_archive(path: Path, tally: DayTally) -> int:
    """The day's decisions, fills and alerts as JSON lines (gzip); returns how many records."""
    rows: list[dict[str, Any]] = [
        *({"record": "decision", **d.model_dump(mode="json")} for d in tally.decisions),
        *({"record": "fill", **f.model_dump(mode="json")} for f in tally.fills),
        *({"record": "alert", **a.model_dump(mode="json")} for a in tally.alerts),
    ]
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, sort_keys=True) + "\n")
    return len(rows)
