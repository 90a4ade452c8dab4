"""The anomaly monitor: runs the market and bot rules of `quant.anomalies` as the feed moves, and submits
what they find as ANOMALY_DETECTED events (answered by the anomaly flow, `graphs/anomaly`, by the rules).

- Market rules, on every bar a feed applies (`aegis.runtime.market_watch`): a price move, a volume spike.
  Funding rates and order books are not in the bundled feeds; their rules run where a feed brings them.
- Bot rules, over the bots' fills (`aegis.runtime.bot_trades`: trade bursts, loss streaks, slippage) and
  their reported statuses (the bot-status flow keeps each bot's last BOT_STATUS: its API error rate, and
  its heartbeat time for the silence rule). A bot that never reported a status is not judged silent: bots
  run in-process (the reference bots) send no heartbeats. Scanned when a bot's fills change and at most
  every `bot_scan_every_s` of the feed's clock.

Decisions that must not be silently changed:
- Event ids come from the rule, the subject and the time (`anomaly-market.volume_spike-WMT-20150318T200000`):
  a resumed run or a replay submits the same ids, and the records answer with the first decision.
- A bot finding is submitted when it appears or gets worse, not again while it lasts; once it has cleared,
  a new one is a new event.
- Severity sets the envelope's priority (HIGH -> high, CRITICAL -> critical, else normal), so the bus serves
  it before ticks.
- A bot finding on its fills is caused by the bot's latest fill (it joins that fill's chain, so `aegis trace`
  shows it under the trade that completed a losing streak); one on its status by the status report; a market
  finding starts its own chain (a bar is not a record).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aegis.runtime.bot_trades import BotTrades
from aegis.runtime.market_watch import MarketWatch, MarketWatchConfig
from graphs.bot_status.graph import STATUS_KEY
from quant.anomalies import BotActivity, BotRecord, BotThresholds, Finding, Rule, Severity, scan_bots
from state.events import Bar, Cause, EventType, Priority
from state.orders import Fill
from state.store.base import DurableStore
from tools.ops.bots import BotControl

Submit = Callable[[Mapping[str, Any]], Awaitable[Any]]
SOURCE = "anomaly-watch"
API_COUNT_BASIS = 10_000  # a reported error rate as counts per 10,000 requests (exact to 0.01 %)
_PRIORITY = {Severity.HIGH: Priority.HIGH, Severity.CRITICAL: Priority.CRITICAL}
_FROM_FILLS = frozenset({Rule.TRADE_BURST, Rule.SLIPPAGE})
_FROM_STATUS = frozenset({Rule.API_ERRORS, Rule.HEARTBEAT})


class AnomalyWatchConfig(BaseModel):
    """The anomaly monitor (`Settings.anomalies`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="Run the market and bot anomaly rules as the feed moves")
    market: MarketWatchConfig = Field(default_factory=MarketWatchConfig)
    bot_scan_every_s: float = Field(60.0, gt=0, description="How often the bots' statuses are judged (feed clock)")


@dataclass(slots=True)
class AnomalyWatch:
    bots: BotControl
    store: DurableStore
    submit: Submit
    config: AnomalyWatchConfig = field(default_factory=AnomalyWatchConfig)
    thresholds: BotThresholds = field(default_factory=BotThresholds)
    found: int = 0  # events submitted by this watch
    _market: MarketWatch = field(init=False)
    _trades: BotTrades | None = None
    _active: dict[tuple[Rule, str], Severity] = field(default_factory=dict)
    _last_scan_s: float = -math.inf

    def __post_init__(self) -> None:
        self._market = MarketWatch(self.config.market)

    async def bar(self, symbol: str, bar: Bar, fills: Sequence[Fill], *, act: bool = True) -> None:
        """A bar the feed applied (and the fills it made): judge the market rules on it, and the bot rules on
        the bots whose fills changed. Without `act` the history is kept and nothing is submitted (a resumed
        run going over days whose events are recorded)."""
        findings = self._market.bar(symbol, bar)
        trades = await self._bot_trades()
        changed = trades.add(fills, bar.open)
        if not act:
            return
        for finding in findings:
            await self._submit(finding, symbol=symbol)
        if changed:
            await self._scan_bots(bar.time, only=frozenset(changed), rules=_FROM_FILLS | {Rule.LOSS_STREAK})

    async def advance(self, moment: datetime, *, act: bool = True) -> None:
        """The feed's clock moved: judge the bots' reported statuses, at most every `bot_scan_every_s`."""
        now_s = moment.timestamp()
        if not act or now_s - self._last_scan_s < self.config.bot_scan_every_s:
            return
        self._last_scan_s = now_s
        await self._scan_bots(moment, only=None, rules=_FROM_STATUS)

    async def _bot_trades(self) -> BotTrades:
        """The bots' trading, read from the stored fills once, then kept up to date from the feed."""
        if self._trades is None:
            self._trades = BotTrades()
            self._trades.add(await self.store.fills())
        return self._trades

    async def _scan_bots(self, moment: datetime, *, only: frozenset[str] | None, rules: frozenset[Rule]) -> None:
        bot_ids = [bot.bot_id for bot in await self.bots.bots() if bot.running and (only is None or bot.bot_id in only)]
        if not bot_ids:
            return
        trades = await self._bot_trades()
        statuses = await self._statuses(bot_ids) if rules & _FROM_STATUS else {}
        judged = [b for b in bot_ids if b in statuses] if rules <= _FROM_STATUS else bot_ids
        if not judged:
            return
        now_s = moment.timestamp()
        findings: list[Finding] = []
        if rules - {Rule.LOSS_STREAK}:  # every fill is a trade; the statuses give heartbeats and API errors
            records = [_with_status(r, statuses.get(r.bot_id)) for r in trades.records(judged, closed=False)]
            scan = scan_bots(BotActivity.from_records(records), now_s=now_s, thresholds=self.thresholds)
            findings += [f for f in scan.findings() if f.rule in rules and f.rule is not Rule.LOSS_STREAK]
        if Rule.LOSS_STREAK in rules:  # closed trades only: an entry has no P&L yet
            closed = BotActivity.from_records(trades.records(judged, closed=True))
            scan = scan_bots(closed, now_s=now_s, thresholds=self.thresholds)
            findings += [f for f in scan.findings() if f.rule is Rule.LOSS_STREAK]
        firing = {(f.rule, f.subject): f for f in findings}
        causes = {b: _cause_of(trades.last.get(b), statuses.get(b), rules) for b in judged}
        await self._report(firing, judged, rules, moment, causes)

    async def _report(
        self,
        firing: Mapping[tuple[Rule, str], Finding],
        judged: Sequence[str],
        rules: frozenset[Rule],
        at: datetime,
        causes: Mapping[str, Cause | None],
    ) -> None:
        for key in [k for k in self._active if k[1] in judged and k[0] in rules and k not in firing]:
            del self._active[key]  # cleared: a new finding later is a new event
        for key, finding in firing.items():
            if self._active.get(key, 0) >= finding.severity:
                continue
            self._active[key] = finding.severity
            await self._submit(finding, bot_id=finding.subject, at=at, cause=causes.get(finding.subject))

    async def _statuses(self, bot_ids: Sequence[str]) -> dict[str, tuple[float, float | None, str | None]]:
        """Each bot's last reported status: its time (epoch seconds), API error rate and event id."""
        held = await self.store.get_values([STATUS_KEY.format(bot_id=b) for b in bot_ids])
        statuses: dict[str, tuple[float, float | None, str | None]] = {}
        for bot_id in bot_ids:
            value = held.get(STATUS_KEY.format(bot_id=bot_id))
            if value is None:
                continue
            status, at = value
            rate = status.get("error_rate") if isinstance(status, dict) else None
            event_id = status.get("event_id") if isinstance(status, dict) else None
            statuses[bot_id] = (at.timestamp(), float(rate) if isinstance(rate, int | float) else None,
                                event_id if isinstance(event_id, str) else None)  # fmt: skip
        return statuses

    async def _submit(
        self,
        finding: Finding,
        *,
        symbol: str | None = None,
        bot_id: str | None = None,
        at: datetime | None = None,
        cause: Cause | None = None,
    ) -> None:
        moment = at or datetime.fromtimestamp(finding.at_s, UTC)
        await self.submit(anomaly_event(finding, moment, symbol=symbol, bot_id=bot_id, cause=cause))
        self.found += 1


def _with_status(record: BotRecord, status: tuple[float, float | None, str | None] | None) -> BotRecord:
    if status is None:
        return record
    heard, rate, _ = status
    errors = round(rate * API_COUNT_BASIS) if rate is not None else 0
    requests = API_COUNT_BASIS if rate is not None else 0
    return BotRecord(record.bot_id, record.trades, heard, requests, errors)


def _cause_of(
    fill: Fill | None, status: tuple[float, float | None, str | None] | None, rules: frozenset[Rule]
) -> Cause | None:
    """What a bot's finding follows: its latest fill for the rules on fills, its status report for the others."""
    if rules & _FROM_STATUS:
        event_id = status[2] if status is not None else None
        return Cause(correlation_id=event_id, causation_id=event_id) if event_id else None
    return Cause(correlation_id=fill.chain_id, causation_id=fill.fill_id) if fill is not None else None


def anomaly_event(
    finding: Finding,
    moment: datetime,
    *,
    symbol: str | None = None,
    bot_id: str | None = None,
    cause: Cause | None = None,
) -> dict[str, Any]:
    """The ANOMALY_DETECTED event of a finding: its rule, severity and evidence (the numbers that fired it)."""
    stamp = moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    e = finding.evidence
    evidence: dict[str, float | str] = {"value": e.value, "threshold": e.threshold, "fires_when": e.fires_when,
                                        "unit": e.unit, "window": e.window, "basis_label": e.basis_label}  # fmt: skip
    if math.isfinite(e.basis):
        evidence["basis"] = e.basis
    event: dict[str, Any] = {
        "id": f"anomaly-{finding.rule.value}-{finding.subject}-{stamp}",
        "type": EventType.ANOMALY_DETECTED.value,
        "source": SOURCE,
        "priority": _PRIORITY.get(finding.severity, Priority.NORMAL).value,
        "event_time": moment.isoformat(),
        "payload": {"rule": finding.rule.value, "severity": finding.severity.name, "evidence": evidence},
    }
    if symbol is not None:
        event["symbols"] = [symbol]
    if bot_id is not None:
        event["bot_id"] = bot_id
    if cause is not None:
        event["correlation_id"], event["causation_id"] = cause.correlation_id, cause.causation_id
    return event
