"""The posture watch: the automatic posture evaluation on the feed's clock (AEGIS v3.1 section 3: every
30 min), and the end of an operator's override when its time is up.

The market feed calls it as time moves (`time_passed`: an override that ended is lifted, the hot copy of the
posture rebuilt if the hot store lost it) and when a VIX reading arrives (`vix_seen`: the evaluation runs
at the first VIX reading on or after its due time, so it reads that moment's VIX and bars; the daily
bundled run moves a day per bar and so evaluates once a day). The evaluation reads the hot VIX and the
hot bars of the market symbols (an equal-weight basket: its trend and realised volatility) and hands the
result to the posture control, which records, mirrors and alerts a change.

Decisions that must not be silently changed:
- The evaluation is `quant.posture.evaluate_posture`: never looser than the VIX posture; a market input
  without enough history is left out (the VIX alone decides).
- A VIX observed longer ago than `max_vix_age_days` (on the feed's clock, `state.staleness`) is stale: the
  evaluation is defensive and says how old the VIX is (a VIX carried forward never keeps a looser posture).
- The due time is kept in the durable record (the last evaluation's time), so a restart neither skips nor
  repeats an evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aegis.runtime.recheck import Recheck
from quant.posture import Posture, PostureEvaluation, RegimeThresholds, VixThresholds, evaluate_posture
from quant.regime import market_regime
from state.clock import Clock
from state.context_loader import VIX_AS_OF_KEY, VIX_KEY
from state.posture import CurrentPosture
from state.staleness import vix_staleness
from state.tiered_hot import TieredHot
from tools.ops.posture import PostureControl


class PostureConfig(BaseModel):
    """The automatic evaluation (defaults: AEGIS v3.1 section 3)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    evaluate_every_s: float = Field(1800.0, gt=0, description="Evaluate the posture this often (feed's clock)")
    calm_volatility_pct: float = Field(
        15.0, gt=0, description="The market's realised volatility (annualised %) below which any posture is allowed"
    )
    stressed_volatility_pct: float = Field(
        25.0, gt=0, description="Realised volatility (annualised %) above which the posture is defensive"
    )
    falling_market_pct: float = Field(
        2.0, gt=0, description="Fast moving average this many % below the slow one: a falling market (defensive)"
    )
    market_symbols: tuple[str, ...] = Field(
        (), description="The symbols whose equal-weight basket is the market (empty: the VIX alone)"
    )

    def thresholds(self, vix: VixThresholds) -> RegimeThresholds:
        return RegimeThresholds(vix, self.calm_volatility_pct, self.stressed_volatility_pct, self.falling_market_pct)


class PostureWatch:
    def __init__(
        self,
        control: PostureControl,
        hot: TieredHot,
        clock: Clock,
        config: PostureConfig,
        vix_thresholds: VixThresholds,
        market_symbols: Sequence[str] | None = None,
        max_vix_age_days: float = math.inf,
    ) -> None:
        self._control = control
        self._max_vix_age_days = max_vix_age_days
        self._hot = hot
        self._clock = clock
        self._config = config
        self._thresholds = config.thresholds(vix_thresholds)
        self._market = tuple(config.market_symbols if market_symbols is None else market_symbols)
        self._last: datetime | None = None
        self._last_read = False
        self._override_end = Recheck()
        self.evaluations = 0

    async def time_passed(self) -> None:
        """Time moved on the feed's clock: end an override whose time is up, rebuild a lost hot copy (one
        read of the durable record when neither is needed, and none at all until the override can have
        ended or a moment of wall time has passed: `aegis.runtime.recheck`)."""
        now, revision = self._clock.now(), self._control.revision
        if not self._override_end.needed(now, revision):
            return
        book = await self._control.book()
        override = book.override
        if override is not None and not override.in_force(now):
            await self._control.lift_expired()  # writes the hot copy itself; read again at the next step
            return
        await self._control.sync(book)
        self._override_end.read(override.until if override is not None else None, revision)

    async def vix_seen(self) -> CurrentPosture | None:
        """A VIX reading arrived: evaluate if the evaluation is due; the posture in force after it, or None
        when it was not due."""
        now = self._clock.now()
        if not self._last_read:
            self._last_read = True
            evaluated = (await self._control.book()).evaluated
            self._last = evaluated.at if evaluated is not None else None
        if self._last is not None and now < self._last + timedelta(seconds=self._config.evaluate_every_s):
            return None
        return await self.evaluate()

    async def evaluate(self) -> CurrentPosture:
        """Evaluate now, from the hot VIX and the market symbols' hot bars."""
        value = await self._hot.get_value(VIX_KEY)
        vix = float(value) if isinstance(value, int | float) and math.isfinite(value) else None
        regime = market_regime(await self._market_closes(), vix)
        evaluation = evaluate_posture(regime, self._thresholds)
        stale = vix_staleness(await self._hot.get_value(VIX_AS_OF_KEY), self._clock.now(), self._max_vix_age_days)
        if vix is not None and stale is not None:
            said = f"{stale.describe()}: defensive; {evaluation.reason}"
            evaluation = PostureEvaluation(Posture.DEFENSIVE, Posture.DEFENSIVE, said)
        current = await self._control.evaluated(evaluation, vix)
        self._last = self._clock.now()
        self.evaluations += 1
        return current

    async def _market_closes(self) -> np.ndarray:
        """The market symbols' closes on their common bar times, oldest first: a (time, symbols) panel (the
        hot window: 120 bars by default, enough for the 50-bar trend)."""
        if not self._market:
            return np.empty((0, 0))
        series = []
        for symbol in self._market:
            bars = await self._hot.bars(symbol)
            series.append({bar.time: bar.close for bar in bars})
        common = sorted(set.intersection(*(set(s) for s in series)))
        return np.array([[s[t] for s in series] for t in common], dtype=np.float64).reshape(len(common), len(series))
