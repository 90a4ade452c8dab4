"""The risk monitor: the failure tiers of AEGIS v3.1 sections 4 and 6.2 as one state machine fed by health
signals, acting through the trading-state control and raising alerts.

Signals come in as calls (a provider call's outcome, a feed heartbeat, a broker vs market price, fills, the
account's equity and positions, a finished session); `tick` re-reads the time-driven tiers (how long the
provider has failed, how long the feed has been silent) on the injected clock and escalates alerts. Which
tier a signal means is `quant.tiers`' business (pure, tested at every threshold); this module only acts.

What each tier does:
- provider failing 30 s -> account REDUCING + CRITICAL alert; 5 min -> safe mode: open orders cancelled,
  positions closed, a state snapshot written, CRITICAL alert. A success lifts what the tier set; while a route
  fails it is asked a health check every 15 s (no session would call it: entries are stopped).
- feed silent over 3 s -> continue on cached data (recorded); over 10 s -> REDUCING, every order cancelled,
  positions closing; over 30 s -> HALTED until an authorised reset. A feed back within the tier lifts REDUCING.
- broker vs market price 0.5-2 % -> the symbol's mismatch is published for the validator (which vetoes new
  entries); over 2 % -> that symbol HALTED until confirmed, CRITICAL alert.
- an input that sets risk past its maximum age (the VIX: `deliberation.max_vix_age_days`, `state.staleness`)
  -> CRITICAL alert, once per input per staleness episode (dedup key: the input and when it was observed); the
  sessions themselves fail closed on it (defensive, no new entries: `state.context_loader`).
- three stop-loss exits in a row -> the defensive posture is forced (a durable counter the context loader reads)
  until the next posture evaluation (30 min, `forced_defensive_s`); then the streak counts from 0 again. Its
  WARNING alert is caused by the stop-loss exit that completed the streak and belongs to that exit's chain
  (`aegis trace` shows it as the posture change); each streak raises its own.
- loss per minute >= 1 % -> CRITICAL; capital down 5 % from the day's start -> EMERGENCY and the account HALTED
  until a reset; one position down 2 % -> WARNING; 80 % of the daily P&L target -> INFO; three system errors
  in a row -> CRITICAL; a stage SLA missed twice in a row -> WARNING; a posture change the sessions' own
  rules made -> INFO (the posture control alerts its own changes); the broker's
  book disagreeing with the stored one -> EMERGENCY and HALTED until a reset.

Decisions that must not be silently changed:
- A tier acts once per escalation: the same tier read again does nothing more; a worse one acts again.
- Automatic recovery only lifts a state this monitor set itself and that does not need a reset.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aegis.runtime.alerting import Alerting
from aegis.runtime.recheck import Recheck
from quant.data_quality import MismatchThresholds, MismatchTier, classify_mismatch
from quant.tiers import (
    FeedThresholds,
    FeedTier,
    FeedWatch,
    LossThresholds,
    ProviderHealth,
    ProviderThresholds,
    ProviderTier,
    StreakThresholds,
    daily_target_progress,
    day_drawdown,
    error_streak_reached,
    loss_per_minute,
    position_warnings,
    stages_missing_sla,
)
from state.alerts import AlertLevel
from state.clock import Clock
from state.context_loader import (
    FEED_OUTAGE_KEY,
    POSTURE_KEY,
    PRICE_MISMATCH_KEY,
    STOP_LOSS_STREAK_COUNTER,
    VIX_AS_OF_KEY,
    VIX_KEY,
)
from state.decisions import DecisionRecord, Outcome
from state.events import Cause
from state.orders import Fill, FillReason, Position
from state.posture import PostureBook
from state.staleness import StaleInput, vix_staleness
from state.store.base import DurableStore
from state.tiered_hot import TieredHot
from state.trading import TradingState
from tools.broker.base import Broker
from tools.ops.trading import ResetRequiredError, TradingControl

_SAMPLES_KEPT = 600

Probe = Callable[[str], Awaitable[bool]]  # ask a provider route ("provider:model") a health check

log = logging.getLogger(__name__)


class ProtectionConfig(BaseModel):
    """The tiers' thresholds (defaults: AEGIS v3.1 sections 4 and 6.2)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: ProviderThresholds = Field(default_factory=ProviderThresholds)
    feed: FeedThresholds = Field(default_factory=FeedThresholds)
    price: MismatchThresholds = Field(default_factory=MismatchThresholds)
    losses: LossThresholds = Field(default_factory=LossThresholds)
    streaks: StreakThresholds = Field(default_factory=StreakThresholds)
    probe_every_s: float = Field(
        15.0, gt=0, description="While a provider route fails, ask it a health check this often (it lifts the tier)"
    )
    forced_defensive_s: float = Field(
        1800.0,
        gt=0,
        description="How long stop-losses in a row force the defensive posture: until the next posture "
        "evaluation (AEGIS v3.1 section 3: every 30 min); then the streak starts again from 0",
    )
    daily_pnl_target: float | None = Field(None, gt=0, description="The day's P&L target (INFO alert at 80 %)")
    stage_warn_s: dict[str, float] = Field(
        default_factory=lambda: {"analyst": 3.0, "validator": 2.5, "commander": 2.5},
        description="Per stage: a latency over this is an SLA miss (twice in a row: WARNING)",
    )


@dataclass(frozen=True, slots=True)
class Transition:
    """One thing the monitor did: which source, which tier, what it did about it."""

    at: datetime
    source: str  # "provider", "feed", "price:AAPL", "losses", "sessions", "integrity", "posture"
    tier: str
    action: str


@dataclass
class _Acted:
    provider: ProviderTier = ProviderTier.NORMAL
    feed: FeedTier = FeedTier.NORMAL
    price: dict[str, MismatchTier] = field(default_factory=dict)


class RiskMonitor:
    def __init__(
        self,
        *,
        trading: TradingControl,
        alerting: Alerting,
        store: DurableStore,
        hot: TieredHot,
        broker: Broker,
        clock: Clock,
        config: ProtectionConfig,
        snapshot_dir: Path | None = None,
        max_vix_age_days: float = math.inf,
    ) -> None:
        self._trading = trading
        self._state_ends = Recheck()
        self._max_vix_age_days = max_vix_age_days
        self._stale: dict[str, str] = {}  # input -> the dedup key of its staleness episode alerted
        self._alerting = alerting
        self._store = store
        self._hot = hot
        self._broker = broker
        self._clock = clock
        self._config = config
        self._snapshot_dir = snapshot_dir
        self._providers: dict[str, ProviderHealth] = {}
        self._probe: Probe | None = None
        self._probed_at: datetime | None = None
        self._feed: FeedWatch | None = None
        self._acted = _Acted()
        self._mismatches: dict[str, float] = {}
        self._equity: deque[tuple[datetime, float]] = deque(maxlen=_SAMPLES_KEPT)
        self._session_ok: deque[bool] = deque(maxlen=50)
        self._latencies: deque[tuple[str, float]] = deque(maxlen=200)
        self._posture: str | None = None
        self._defensive_until: datetime | None = None  # the stop-loss streak's forced defensive posture
        self._streak_read = False
        self.transitions: list[Transition] = []

    # ---- providers -----------------------------------------------------------------------------------

    def observe_provider(self, provider: str, ok: bool) -> None:
        """One LLM provider call's outcome (after its own retries and failover), `provider` naming the route
        ("deepseek:deepseek-chat"); acted on at the next `tick` or finished session. Synchronous, so a client
        wrapper can report from anywhere."""
        health = self._providers.get(provider, ProviderHealth())
        self._providers[provider] = health.observe(ok, self._clock.now())

    def provider_health(self) -> dict[str, ProviderHealth]:
        """Each route's failure run as observed so far (the health monitor reads it; nothing is changed)."""
        return dict(self._providers)

    def probe_with(self, probe: Probe) -> None:
        """How to ask a failing route whether it is back (`ProviderRegistry.probe`): with no new entries
        reaching the roles, nothing else would call it."""
        self._probe = probe

    async def _probe_failing(self) -> None:
        now = self._clock.now()
        failing = [route for route, health in self._providers.items() if health.failing_since is not None]
        if self._probe is None or not failing:
            return
        if self._probed_at is not None and (now - self._probed_at).total_seconds() < self._config.probe_every_s:
            return
        self._probed_at = now
        for route in failing:
            await self._probe(route)  # its outcome reaches `observe_provider` like any call's

    async def provider_call(self, ok: bool, provider: str = "llm") -> None:
        """One provider call's outcome, acted on at once."""
        self.observe_provider(provider, ok)
        await self._provider_tier()

    async def _provider_tier(self) -> None:
        """The worst provider sets the tier: one role without answers is enough to stop new entries."""
        now = self._clock.now()
        failing = max((h.failing_for_s(now) for h in self._providers.values()), default=0.0)
        tier = max(
            (h.tier(now, self._config.provider) for h in self._providers.values()),
            key=lambda t: t.level,
            default=ProviderTier.NORMAL,
        )
        if tier is ProviderTier.NORMAL and self._acted.provider is not ProviderTier.NORMAL:
            self._acted.provider = tier
            await self._lift("provider", "provider calls succeed again")
            return
        if tier.level <= self._acted.provider.level:
            return
        self._acted.provider = tier
        if tier is ProviderTier.REDUCING:
            await self._reduce("provider", f"LLM provider failing for {failing:.1f} s")
            await self._alert(
                AlertLevel.CRITICAL, "provider_outage", f"LLM provider failing for {failing:.0f} s: REDUCING"
            )
            self._note("provider", tier, "REDUCING: no new entries")
        elif tier is ProviderTier.SAFE_MODE:
            await self._reduce("provider", f"LLM provider failing for {failing:.1f} s: safe mode")
            cancelled, closing = await self._flatten("provider", "provider safe mode")
            snapshot = await self._snapshot("provider_safe_mode")
            message = (
                f"LLM provider failing for {failing:.0f} s: safe mode, {cancelled} orders cancelled, {closing} closing"
            )
            await self._alert(AlertLevel.CRITICAL, "provider_safe_mode", message, snapshot=str(snapshot))
            self._note("provider", tier, f"SAFE MODE: {cancelled} cancelled, {closing} positions closing, snapshot")

    # ---- the feed ------------------------------------------------------------------------------------

    async def heartbeat(self) -> None:
        """The feed connection is alive (its own heartbeat, not a bar)."""
        now = self._clock.now()
        self._feed = (
            FeedWatch(last_heartbeat_at=now) if self._feed is None else self._feed.heartbeat(now, self._config.feed)
        )
        await self._feed_tier()

    def cached_data_age_s(self) -> float | None:
        """How old the cached market data is while the feed is silent (None while it is live)."""
        if self._feed is None:
            return None
        reading = self._feed.reading(self._clock.now(), self._config.feed)
        return reading.gap_s if reading.tier is not FeedTier.NORMAL else None

    async def _feed_tier(self) -> None:
        if self._feed is None:
            return
        reading = self._feed.reading(self._clock.now(), self._config.feed)
        tier = reading.tier
        if tier is FeedTier.NORMAL and self._acted.feed is not FeedTier.NORMAL:
            worst, self._acted.feed = self._acted.feed, tier
            await self._hot.set_value(FEED_OUTAGE_KEY, None)
            if worst is not FeedTier.HALT:
                await self._lift("feed", f"feed back after an outage (worst {worst})")
            return
        if tier.level <= self._acted.feed.level:
            return
        if self._acted.feed is FeedTier.NORMAL:  # sessions record how old their cached data is
            outage = {"since": self._feed.last_heartbeat_at.isoformat(), "tier": str(tier)}
            await self._hot.set_value(FEED_OUTAGE_KEY, outage)
        self._acted.feed = tier
        gap = reading.gap_s
        if tier is FeedTier.CACHED:
            self._note("feed", tier, f"continuing on cached data ({gap:.1f} s old)")
        elif tier is FeedTier.CANCEL_AND_CLOSE:
            await self._reduce("feed", f"feed silent for {gap:.1f} s")
            cancelled, closing = await self._flatten("feed", f"feed silent for {gap:.1f} s")
            await self._alert(
                AlertLevel.CRITICAL, "feed_down", f"feed silent {gap:.0f} s: {cancelled} orders cancelled"
            )
            self._note("feed", tier, f"REDUCING: {cancelled} orders cancelled, {closing} positions closing")
        elif tier is FeedTier.HALT:
            report = await self._trading.halt(
                reason=f"feed silent for {gap:.1f} s", actor="tier:feed", needs_reset=True
            )
            await self._alert(AlertLevel.CRITICAL, "feed_halt", f"feed silent {gap:.0f} s: HALTED until a reset")
            self._note("feed", tier, f"HALTED (needs a reset): {len(report.cancelled)} orders cancelled")

    # ---- prices --------------------------------------------------------------------------------------

    async def price_check(self, symbol: str, *, broker_price: float, market_price: float) -> MismatchTier:
        """The broker's price for `symbol` against the market's."""
        mismatch = classify_mismatch(market_price, broker_price, self._config.price)
        tier, before = mismatch.tier, self._acted.price.get(symbol, MismatchTier.IGNORE)
        pct = mismatch.relative_difference * 100.0
        if tier is MismatchTier.IGNORE:
            if symbol in self._mismatches:
                del self._mismatches[symbol]
                await self._hot.set_value(PRICE_MISMATCH_KEY, self._mismatches)
            if before is MismatchTier.ASK_VALIDATOR:
                self._acted.price[symbol] = tier
            return tier
        self._mismatches[symbol] = pct if math.isfinite(pct) else 100.0
        await self._hot.set_value(PRICE_MISMATCH_KEY, self._mismatches)
        if list(MismatchTier).index(tier) <= list(MismatchTier).index(before):
            return tier
        self._acted.price[symbol] = tier
        source = f"price:{symbol}"
        if tier is MismatchTier.ASK_VALIDATOR:
            self._note(
                source,
                tier,
                f"broker {broker_price:g} vs market {market_price:g} ({pct:.2f} %): validator vetoes entries",
            )
        else:
            reason = f"broker {broker_price:g} vs market {market_price:g} ({pct:.2f} %): manual confirmation pending"
            report = await self._trading.halt(reason=reason, actor="tier:price", scope=symbol, needs_reset=True)
            await self._alert(
                AlertLevel.CRITICAL, "price_mismatch", f"{symbol} HALTED: {reason}", key=f"price_mismatch:{symbol}"
            )
            self._note(source, tier, f"{symbol} HALTED (needs confirmation): {len(report.cancelled)} orders cancelled")
        return tier

    # ---- fills, equity, positions --------------------------------------------------------------------

    async def fills(self, fills: Sequence[Fill]) -> None:
        """Exits feed the stop-loss streak: three stop-losses in a row force the defensive posture."""
        for fill in fills:
            if fill.reason is FillReason.ENTRY:
                continue
            if fill.reason is not FillReason.STOP_LOSS:
                await self._store.set_counter(STOP_LOSS_STREAK_COUNTER, 0)
                continue
            streak = await self._store.add_to_counter(STOP_LOSS_STREAK_COUNTER, 1)
            if streak == self._config.losses.defensive_after_stop_losses:
                self._defensive_until = self._clock.now() + timedelta(seconds=self._config.forced_defensive_s)
                message = f"{streak} stop-loss exits in a row (last {fill.symbol}): defensive posture forced"
                cause = Cause(correlation_id=fill.chain_id, causation_id=fill.fill_id)
                key = f"stop_loss_streak:{fill.fill_id}"
                await self._alert(AlertLevel.WARNING, "stop_loss_streak", message, key=key, cause=cause)
                self._note("losses", "stop_loss_streak", f"defensive posture forced until {self._defensive_until}")

    async def _release_defensive(self) -> None:
        """The forced defensive posture lasts until the next posture evaluation; then the streak restarts. A
        streak found at start (a restart while forced) is held for a full period from now."""
        now = self._clock.now()
        if not self._streak_read:
            self._streak_read = True
            streak = await self._store.get_counter(STOP_LOSS_STREAK_COUNTER)
            if streak >= self._config.losses.defensive_after_stop_losses and self._defensive_until is None:
                self._defensive_until = now + timedelta(seconds=self._config.forced_defensive_s)
        if self._defensive_until is None or now < self._defensive_until:
            return
        self._defensive_until = None
        await self._store.set_counter(STOP_LOSS_STREAK_COUNTER, 0)
        self._note("losses", "stop_loss_streak", "forced defensive posture released: the VIX sets it again")

    async def account(
        self, *, equity: float, day_start_equity: float, positions: Mapping[str, Position], marks: Mapping[str, float]
    ) -> None:
        """The account marked to market: loss per minute, the day's drawdown, positions down 2 %, the target."""
        now, losses = self._clock.now(), self._config.losses
        self._equity.append((now, equity))
        start = now - timedelta(seconds=losses.loss_window_s)
        while self._equity and self._equity[0][0] < start:  # out of this window and of every later one
            self._equity.popleft()
        minute = loss_per_minute(list(self._equity), now, losses)
        if minute.breached:
            await self._alert(
                AlertLevel.CRITICAL,
                "loss_per_minute",
                f"equity down {minute.loss_pct:.2f} % within {losses.loss_window_s:g} s",
                key=f"loss_per_minute:{now:%Y-%m-%d}",
            )
        drawdown = day_drawdown(day_start_equity, equity, losses)
        if drawdown.emergency:
            state = (await self._trading.states()).account
            if state.state is not TradingState.HALTED:
                reason = f"capital down {drawdown.drawdown_pct:.2f} % from the day's start"
                report = await self._trading.halt(reason=reason, actor="tier:losses", needs_reset=True)
                await self._alert(AlertLevel.EMERGENCY, "capital_loss", f"{reason}: HALTED until an authorised reset")
                self._note(
                    "losses", "capital_down", f"HALTED (needs a reset): {len(report.cancelled)} orders cancelled"
                )
        symbols = sorted(positions)
        avg = [positions[s].avg_price for s in symbols]
        mark = [marks.get(s, positions[s].avg_price) for s in symbols]
        for warning in position_warnings(symbols, avg, mark, losses):
            await self._alert(
                AlertLevel.WARNING,
                "position_down",
                f"{warning.symbol}: {warning.reason}",
                key=f"position_down:{warning.symbol}",
            )
        progress = daily_target_progress(equity - day_start_equity, self._config.daily_pnl_target, losses)
        if progress.reached:
            await self._alert(
                AlertLevel.INFO,
                "daily_target",
                f"{progress.share_pct:.0f} % of the day's P&L target",
                key=f"daily_target:{now:%Y-%m-%d}",
            )

    async def check_integrity(self) -> list[str]:
        """The broker's book against the stored one; a disagreement is a data-integrity breach."""
        stored = {p.symbol: p.quantity for p in await self._store.positions()}
        held = {s: p.quantity for s, p in self._broker.positions().items()}
        problems = [
            f"{s}: broker {held.get(s, 0.0):g}, store {stored.get(s, 0.0):g}"
            for s in sorted(set(stored) | set(held))
            if not math.isclose(held.get(s, 0.0), stored.get(s, 0.0), rel_tol=1e-9, abs_tol=1e-9)
        ]
        if problems:
            reason = "data integrity: " + "; ".join(problems)
            await self._trading.halt(reason=reason, actor="tier:integrity", needs_reset=True)
            await self._alert(AlertLevel.EMERGENCY, "data_integrity", f"{reason}: HALTED until an authorised reset")
            self._note("integrity", "breach", "HALTED (needs a reset)")
        return problems

    # ---- sessions ------------------------------------------------------------------------------------

    async def session_decided(self, record: DecisionRecord) -> None:
        """A finished session: the provider calls it made, system errors in a row, stage SLAs, posture changes,
        its symbol's stale inputs (the VIX's are `check_inputs`' own)."""
        await self._provider_tier()
        if record.outcome is Outcome.REJECTED:
            return
        for input_ in (s for s in record.stale_inputs if s.input != "vix"):  # one alert per episode: its key
            message = f"{input_.describe()}: no new entry on it (exits still allowed)"
            detail = input_.model_dump(mode="json")
            cause = Cause(correlation_id=record.chain_id, causation_id=record.event_id)
            await self._alert(AlertLevel.WARNING, "stale_input", message, key=input_.dedup_key, cause=cause, **detail)
        self._session_ok.append(not (record.failed or record.outcome is Outcome.EXECUTION_FAILED))
        if error_streak_reached(list(self._session_ok), self._config.streaks):
            await self._alert(
                AlertLevel.CRITICAL,
                "system_errors",
                f"{self._config.streaks.errors_in_a_row} failed sessions in a row (last {record.event_id})",
            )
        self._latencies.extend(
            (s.stage, s.latency_ms / 1000.0) for s in record.stages if s.stage in self._config.stage_warn_s
        )
        for stage in stages_missing_sla(list(self._latencies), self._config.stage_warn_s, self._config.streaks):
            await self._alert(
                AlertLevel.WARNING,
                "sla_missed",
                f"{stage} over its {self._config.stage_warn_s[stage]:g} s SLA twice in a row",
                key=f"sla_missed:{stage}",
            )
        if record.posture is not None and record.posture != self._posture:
            if self._posture is not None and not await self._control_alerted(record.posture):
                await self._alert(
                    AlertLevel.INFO,
                    "posture_change",
                    f"posture {self._posture} -> {record.posture}",
                    key=f"posture:{record.posture}:{record.decided_at.isoformat()}",
                    cause=Cause(correlation_id=record.chain_id, causation_id=record.event_id),
                )
                self._note("posture", record.posture, f"posture {self._posture} -> {record.posture}")
            self._posture = record.posture

    async def _control_alerted(self, posture: str) -> bool:
        """A session posture that is the posture control's was alerted by the control when it changed
        (`tools.ops.posture`); only a change of the sessions' own (their fail-safe rules) is alerted here."""
        value = await self._hot.get_value(POSTURE_KEY)
        if value is None:
            return False
        try:
            current = PostureBook.model_validate(value).current(self._clock.now())
        except ValueError:
            return False
        return current is not None and str(current.posture) == posture

    # ---- time ----------------------------------------------------------------------------------------

    async def tick(self) -> None:
        """Re-read the time-driven tiers on the clock, end the trading states whose time is up (a market
        anomaly's cooldown), and escalate unacknowledged alerts."""
        now, revision = self._clock.now(), self._trading.revision
        if self._state_ends.needed(now, revision):  # the durable states, read when one can have ended
            self._state_ends.read((await self._trading.lift_expired(now)).next_end, revision)
        await self._release_defensive()
        await self._probe_failing()
        await self._provider_tier()
        await self._feed_tier()
        await self.check_inputs()
        await self._alerting.escalate()

    async def check_inputs(self) -> list[StaleInput]:
        """The inputs that set risk, past their maximum age on the clock: each alerted once per staleness
        episode (a fresh observation ends it); the stale ones."""
        stale: list[StaleInput] = []
        if math.isfinite(self._max_vix_age_days) and await self._hot.get_value(VIX_KEY) is not None:
            vix = vix_staleness(await self._hot.get_value(VIX_AS_OF_KEY), self._clock.now(), self._max_vix_age_days)
            if vix is not None:
                stale.append(vix)
        now_stale = {s.input: s for s in stale}
        for name in [n for n in self._stale if n not in now_stale]:
            del self._stale[name]
            self._note(f"stale:{name}", "fresh", "fresh again")
        for name, input_ in now_stale.items():
            if self._stale.get(name) == input_.dedup_key:
                continue
            self._stale[name] = input_.dedup_key
            message = f"{input_.describe()}: sessions defensive, no new entries (exits still allowed)"
            self._note(f"stale:{name}", "stale", message)
            detail = input_.model_dump(mode="json")
            await self._alert(AlertLevel.CRITICAL, "stale_input", message, key=input_.dedup_key, **detail)
        return stale

    async def run_ticks(self, every_s: float = 1.0) -> None:
        """`tick` every `every_s` seconds of wall time until cancelled (a live process: a worker, a feed). A
        tick that fails is logged and the next one tries again: the monitor never ends the process. A
        cancellation that something inside a tick swallowed still ends the loop (a worker waits for it to exit:
        a loop that outlived its cancellation kept a worker running after its work was done)."""
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.tick()
            except Exception:  # the store or Redis away for a moment: say so, keep watching
                log.exception("risk monitor tick failed; trying again in %.1f s", every_s)
            _end_if_cancelled()

    # ---- actions -------------------------------------------------------------------------------------

    async def _reduce(self, source: str, reason: str) -> None:
        current = (await self._trading.states()).account
        if current.state.severity >= TradingState.REDUCING.severity:
            return
        await self._trading.reduce(reason=reason, actor=f"tier:{source}")

    async def _lift(self, source: str, reason: str) -> None:
        current = (await self._trading.states()).account
        if current.actor != f"tier:{source}" or current.state is TradingState.ACTIVE:
            self._note(source, "normal", "recovered; state left as it is")
            return
        try:
            await self._trading.resume(reason=reason, actor=f"tier:{source}")
        except ResetRequiredError:
            self._note(source, "normal", "recovered; the state needs an authorised reset")
            return
        self._note(source, "normal", "ACTIVE again")

    async def _flatten(self, source: str, reason: str) -> tuple[int, int]:
        cancelled = await self._trading.cancel_open_orders(reason=reason, actor=f"tier:{source}")
        closing = await self._trading.close_positions(reason=reason, actor=f"tier:{source}")
        return len(cancelled), len(closing)

    async def _snapshot(self, name: str) -> Path | None:
        """The state at a safe-mode entry: trading states, book, open orders, open alerts."""
        states = await self._trading.states()
        account = await self._store.account_book()
        detail: dict[str, Any] = {
            "at": self._clock.now().isoformat(),
            "trading": states.model_dump(mode="json"),
            "cash": account.cash,
            "positions": [p.model_dump(mode="json") for p in account.positions],
            "open_orders": [o.model_dump(mode="json") for o in account.open_orders],
        }
        await self._store.audit("monitor", f"snapshot:{name}", detail, self._clock.now())
        if self._snapshot_dir is None:
            return None
        path = self._snapshot_dir / f"snapshot-{name}-{self._clock.now():%Y%m%dT%H%M%S}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(detail, indent=2, sort_keys=True), encoding="utf-8")
        return path

    async def _alert(
        self,
        level: AlertLevel,
        kind: str,
        message: str,
        *,
        key: str | None = None,
        cause: Cause | None = None,
        **detail: Any,
    ) -> None:
        await self._alerting.raise_alert(level, kind, message, dedup_key=key, detail=detail, cause=cause)

    def _note(self, source: str, tier: Any, action: str) -> None:
        self.transitions.append(Transition(self._clock.now(), source, str(tier), action))


def _end_if_cancelled() -> None:
    """Raise CancelledError if this task was asked to stop and the request was lost on the way (3.11's
    `cancelling()` still counts it)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
