"""The daily operations of AEGIS v3.1 section 7, scheduled on the feed's clock, each recorded.

- Before the open (the first moment of a trading day): the pre-session checks (`aegis.runtime.day_checks`:
  the roles' API keys, the stores, the limits, the backups); a failure raises a WARNING alert. Their result
  is reused for `CHECKS_EVERY_S` (1 s) of wall time: a replay runs hundreds of days a second.
- During the session: the latency check every 10 minutes (the sessions' p95 against the full-cycle SLA of
  4 s), the P&L check every 30 minutes, the success rate every hour (failed sessions against
  `min_success_rate`); a breach raises a WARNING alert. The anomaly monitor runs beside them
  (`aegis.runtime.anomaly_watch`).
- After the close (when the next day begins, or the feed ends): orders that had the day's session and did
  not fill are cancelled; the day's records are archived; the day's report is written (Markdown, and the
  equity chart: at most once every `chart_every_s` of wall-clock time and on the feed's last day, since a
  chart costs about 0.1 s: a live day gets its chart, a replay of years one a minute); the readiness for
  the next day is checked (a WARNING alert when not). The chart's history is the last `EQUITY_DAYS_KEPT`
  days (ten years), so a long replay's memory stays flat.

Each day's outcome is a durable value (`ops:day:<day>`) and an audit line, and its files are in the
`reports` folder of the data folder. With a feed of daily bars the clock moves a day at a time: each check
runs at most once per step of the clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from time import monotonic
from typing import Any

from aegis.runtime.alerting import Alerting
from aegis.runtime.day_checks import pre_open_checks, readiness
from aegis.runtime.day_report import DayFigures, DayTally, percentile, render, write_archive, write_chart
from aegis.runtime.operations_config import OperationsConfig
from aegis.settings import Settings
from state.alerts import Alert, AlertLevel
from state.decisions import DecisionRecord
from state.orders import Fill
from state.store.base import AuditEntry, DurableStore
from tools.broker.paper import PaperBroker
from tools.ops.trading import TradingControl

ACTOR = "daily_operations"
DAY_CLOSED = "day_closed"  # the audit action of a closed day: its detail holds the day and its closing equity
REPORTS_FOLDER = "reports"  # in the data folder
DAY_KEY = "ops:day:{day}"
EQUITY_KEY = "ops:equity_by_day"
EQUITY_DAYS_KEPT = 2520  # the equity history charted: the last ten years of trading days
INLINE_RECORDS = 64  # a day with at most this many records (and no chart) writes its files on the loop
CHECKS_EVERY_S = 1.0  # wall seconds a pre-open check result is reused for (a replay runs days by the thousand)


@dataclass(slots=True)
class _Window:
    """The sessions since an intraday check last ran."""

    at: float = float("-inf")
    decisions: list[DecisionRecord] = field(default_factory=list)


@dataclass
class DailyOperations:
    store: DurableStore
    broker: PaperBroker
    trading: TradingControl
    alerting: Alerting
    settings: Settings
    config: OperationsConfig
    folder: Path  # where the reports and archives go
    days_reported: int = 0
    _day: date | None = None
    _tally: DayTally | None = None
    _day_start_equity: float = 0.0
    _checks: list[str] = field(default_factory=list)
    _pre_open_failed: list[str] = field(default_factory=list)
    _windows: dict[str, _Window] = field(default_factory=dict)
    _equity: dict[date, float] | None = None
    _charted: float = float("-inf")  # when the last chart was drawn (monotonic wall-clock seconds)
    _pre_open: list[str] = field(default_factory=list)  # the last pre-open checks' lines
    _checked_at: float = float("-inf")  # when they ran (monotonic wall-clock seconds)

    # ---- what the day is made of ----------------------------------------------------------------------

    def decided(self, record: DecisionRecord) -> None:
        if self._tally is not None:
            self._tally.decisions.append(record)
            for window in self._windows.values():
                window.decisions.append(record)

    def alerted(self, alert: Alert) -> None:
        if self._tally is not None:
            self._tally.alerts.append(alert)

    def filled(self, fills: Sequence[Fill]) -> None:
        if self._tally is not None:
            self._tally.fills.extend(fills)

    # ---- the schedule -------------------------------------------------------------------------------

    async def advance(self, moment: datetime, *, act: bool = True) -> None:
        """The feed's clock reached `moment`: the day's end and the next one's start when the day changed,
        then the intraday checks that are due. Without `act` the days are followed, nothing is done."""
        day = moment.date()
        if day != self._day:
            if self._day is not None and self._tally is not None and act:
                await self.after_close(self._day, moment)
            self._day, self._tally = day, (DayTally(day) if act else None)
            self._day_start_equity = self.broker.equity()
            self._windows = {name: _Window() for name in ("latency", "pnl", "success")}
            self._checks = []
            if act:
                await self.before_open(day)
        if act and self._tally is not None:
            await self._intraday(moment)

    async def finish(self, moment: datetime) -> Path | None:
        """The feed ended (a run's last day, a stop after the day in progress): close the day it was in."""
        if self._day is None or self._tally is None:
            return None
        report = await self.after_close(self._day, moment, chart=True)
        self._tally = None
        return report

    async def before_open(self, day: date) -> None:
        if monotonic() - self._checked_at >= CHECKS_EVERY_S:  # a replay's days come faster than they can change
            self._pre_open = await asyncio.to_thread(pre_open_checks, self.settings, self.folder)
            self._checked_at = monotonic()
        checks = self._pre_open
        self._pre_open_failed = [c for c in checks if not c.startswith("ok")]
        self._checks = [f"before the open: {c}" for c in checks]
        if self._pre_open_failed:
            await self.alerting.raise_alert(AlertLevel.WARNING, "pre_open_check",
                                            f"{day}: " + "; ".join(self._pre_open_failed),
                                            dedup_key=f"pre_open:{day}")  # fmt: skip

    async def _intraday(self, moment: datetime) -> None:
        now = moment.timestamp()
        config = self.config
        latency = self._windows["latency"]
        if now - latency.at >= config.latency_every_s:
            p95 = percentile([sum(s.latency_ms for s in d.stages) for d in latency.decisions if d.stages])
            if p95 is not None and p95 > config.session_sla_ms:
                await self._breach("latency", f"session p95 {p95:.0f} ms over the {config.session_sla_ms:.0f} ms SLA")
            self._windows["latency"] = _Window(at=now)
        pnl = self._windows["pnl"]
        if now - pnl.at >= config.pnl_every_s:
            change = self.broker.equity() - self._day_start_equity
            self._checks.append(f"{moment.strftime('%H:%M')} P&L {change:+,.2f} on the day")
            self._windows["pnl"] = _Window(at=now)
        success = self._windows["success"]
        if now - success.at >= config.success_every_s:
            sessions = [d for d in success.decisions if d.stages]
            if sessions:
                rate = sum(not d.failed for d in sessions) / len(sessions)
                if rate < config.min_success_rate:
                    await self._breach("success_rate", f"{rate:.0%} of {len(sessions)} sessions succeeded "
                                       f"(under {config.min_success_rate:.0%})")  # fmt: skip
            self._windows["success"] = _Window(at=now)

    async def _breach(self, check: str, message: str) -> None:
        self._checks.append(f"breach: {check}: {message}")
        day = self._day.isoformat() if self._day else "?"
        await self.alerting.raise_alert(AlertLevel.WARNING, f"daily_{check}", f"{day}: {message}",
                                        dedup_key=f"daily_{check}:{day}")  # fmt: skip

    async def after_close(self, day: date, moment: datetime, *, chart: bool = False) -> Path:
        """Cancel what missed its session, archive the day, write its report, check the next day's readiness."""
        assert self._tally is not None
        opened = datetime.combine(day, time.min, tzinfo=moment.tzinfo)
        async with self.store.account_lock():
            cancelled = await self.broker.cancel_created_before(opened, "unfilled after its session", moment)
        reasons = await readiness(self.trading, self._pre_open_failed)
        equity = await self._equity_by_day(day)
        self.days_reported += 1
        now = monotonic()
        drawn = f"{day}.png" if chart or now - self._charted >= self.config.chart_every_s else None
        figures = DayFigures(
            equity=self.broker.equity(), day_start_equity=self._day_start_equity, cash=self.broker.cash(),
            positions=len(self.broker.positions()), cancelled_orders=[o.order_id for o in cancelled],
            checks=self._checks, ready=not reasons, readiness=reasons,
        )  # fmt: skip
        report = self.folder / f"{day}.md"
        # The day's files: a quiet day's (no chart, a few records) are written on the loop, as a thread's hand-off
        # would cost more than the writing; a busy day's or a chart in one trip to a worker thread.
        files = (
            self.folder,
            day,
            self._tally,
            render(self._tally, figures, drawn),
            drawn,
            dict(equity) if drawn else {},
        )
        records = len(self._tally.decisions) + len(self._tally.fills) + len(self._tally.alerts)
        if drawn is None and records <= INLINE_RECORDS:
            archived = _write_day(*files)
        else:
            archived = await asyncio.to_thread(_write_day, *files)
        values: list[tuple[str, Any]] = []
        if drawn is not None:
            self._charted = now
            values.append((EQUITY_KEY, {d.isoformat(): v for d, v in equity.items()}))
        outcome = {"report": report.name, "archived": archived, "cancelled": figures.cancelled_orders,
                   "ready": figures.ready, "readiness": reasons, "equity": figures.equity}  # fmt: skip
        values.append((DAY_KEY.format(day=day), outcome))
        # The day's values and its audit line in one transaction: one commit a day, and never one without the other.
        closed = AuditEntry(ACTOR, DAY_CLOSED, {"day": day.isoformat(), **outcome})
        await self.store.put_values_audited(values, closed, moment)
        if reasons:
            await self.alerting.raise_alert(AlertLevel.WARNING, "not_ready", f"after {day}: " + "; ".join(reasons),
                                            dedup_key=f"not_ready:{day}")  # fmt: skip
        return report

    async def _equity_by_day(self, day: date) -> dict[date, float]:
        """The equity at each reported day's close: kept in memory, saved with each chart (so a restart charts
        the history to the last chart, and each day's own value is in its `ops:day:<day>`)."""
        if self._equity is None:
            held = await self.store.get_value(EQUITY_KEY)
            listed = held[0] if held is not None and isinstance(held[0], dict) else {}
            self._equity = {date.fromisoformat(k): float(v) for k, v in listed.items()}
        self._equity[day] = self.broker.equity()
        while len(self._equity) > EQUITY_DAYS_KEPT:  # a long replay's history stays bounded: the recent days
            del self._equity[min(self._equity)]
        return self._equity


def _write_day(folder: Path, day: date, tally: DayTally, report: str, chart: str | None,
               equity: dict[date, float]) -> int:  # fmt: skip
    """The day's archive, its chart when one is drawn, and its report; how many records were archived."""
    folder.mkdir(parents=True, exist_ok=True)
    archived = write_archive(folder / f"{day}.records.jsonl.gz", tally)
    if chart is not None:
        write_chart(folder / chart, equity)
    (folder / f"{day}.md").write_text(report, "utf-8")
    return archived
