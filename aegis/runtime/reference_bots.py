"""The reference bots of the bundled data: four strategies on four slices of the market, and their signals.

`aegis run` registers them on fresh records, on the first day it decides (after the warm-up), so the
default run shows a multi-bot book:

- `screen-tech`: the trigger screen (`quant.screen`) on AAPL, AMZN, GOOG, MSFT;
- `screen-cyclical`: the trigger screen on BAC, JPM, CVX, XOM (financials and energy);
- `growth`: the growth strategy of `quant.backtest` (trend following) on JNJ and PFE (health care);
- `value`: the value strategy of `quant.backtest` (mean reversion) on KO and WMT (staples).

The universes do not overlap (a symbol belongs to one bot at a time anyway). Each bot's starting
allocation is the optimiser's conservative (minimum-variance) allocation of the bots' universes, as
equal-weight baskets, over the warm-up days, within the rebalancing's bounds (5-40 % by default); the
scheduled rebalancing then works from the bots' own returns. With one bot it gets the whole account; when
the bounds admit no allocation (two bots at a 40 % maximum) each gets its maximum and the rest stays
unallocated, and the reason is printed.

Signals: a screen bot's are the screen's triggers on its symbols; a strategy bot's are its entry rule
(a long signal `growth_entry` / `value_entry`) and, for a symbol it holds, its exit rule (a short signal
`growth_exit` / `value_exit`). Every signal names its bot (`bot_id`); all are deliberated like any other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from aegis.runtime.signals import signal_event
from quant.backtest.engine import Strategy
from quant.backtest.panel import OhlcvPanel
from quant.backtest.strategies import GrowthStrategy, ValueStrategy
from quant.portfolio import mean_historical_return, min_variance, sample_covariance
from quant.screen import Trigger
from state.bots import Bot
from tools.feeds.bundled import DailyPanel
from tools.ops.allocation import RebalanceConfig


@dataclass(frozen=True, slots=True)
class ReferenceBot:
    bot_id: str
    strategy: str  # "screen" | "growth" | "value"
    universe: tuple[str, ...]
    about: str


REFERENCE_BOTS: tuple[ReferenceBot, ...] = (
    ReferenceBot("screen-tech", "screen", ("AAPL", "AMZN", "GOOG", "MSFT"), "trigger screen, technology"),
    ReferenceBot("screen-cyclical", "screen", ("BAC", "JPM", "CVX", "XOM"), "trigger screen, financials and energy"),
    ReferenceBot("growth", "growth", ("JNJ", "PFE"), "growth strategy (trend following), health care"),
    ReferenceBot("value", "value", ("KO", "WMT"), "value strategy (mean reversion), staples"),
)
_STRATEGIES: dict[str, Strategy] = {"growth": GrowthStrategy(), "value": ValueStrategy()}


def reference_bots(symbols: Sequence[str]) -> list[ReferenceBot]:
    """The reference bots on `symbols`: each universe narrowed to them, bots left with none dropped."""
    wanted = set(symbols)
    narrowed = [
        ReferenceBot(bot.bot_id, bot.strategy, tuple(s for s in bot.universe if s in wanted), bot.about)
        for bot in REFERENCE_BOTS
    ]
    return [bot for bot in narrowed if bot.universe]


def starting_allocation(
    panel: DailyPanel, bots: Sequence[ReferenceBot], warmup: int, config: RebalanceConfig
) -> tuple[dict[str, float], str]:
    """Each bot's starting share of equity, and how it was found (for the run's header)."""
    ids = [bot.bot_id for bot in bots]
    n = len(ids)
    if n == 1:
        return {ids[0]: 1.0}, "one bot: the whole account"
    lower, upper = config.min_allocation, config.max_allocation
    if n * upper < 1.0 - 1e-12 or n * lower > 1.0 + 1e-12:
        share = min(upper, 1.0 / n)
        return {bot: share for bot in ids}, (
            f"{n} bots cannot fill 100 % within {lower:.0%}-{upper:.0%}: {share:.0%} each, the rest unallocated"
        )
    baskets = np.column_stack([_basket(panel, bot.universe, warmup) for bot in bots])
    portfolio = min_variance(
        mean_historical_return(baskets), sample_covariance(baskets), bounds=(lower, upper),
        risk_free_rate=config.risk_free_rate,
    )  # fmt: skip
    shares = {bot: float(w) for bot, w in zip(ids, portfolio.weights, strict=True)}
    return shares, f"minimum variance of the bots' universes over the {warmup} warm-up days, {lower:.0%}-{upper:.0%}"


def as_bots(bots: Sequence[ReferenceBot], allocation: Mapping[str, float], at: datetime) -> list[Bot]:
    return [
        Bot(bot_id=bot.bot_id, strategy=bot.strategy, universe=bot.universe, allocation=allocation[bot.bot_id],
            reason=bot.about, since=at)
        for bot in bots
    ]  # fmt: skip


def _basket(panel: DailyPanel, universe: Sequence[str], rows: int) -> np.ndarray:
    """An equal-weight basket of `universe`'s closes over the first `rows` days, starting at 1."""
    columns = [panel.symbols.index(symbol) for symbol in universe]
    closes = panel.close[:rows, columns]
    return np.asarray(np.nanmean(closes / closes[0], axis=1), dtype=np.float64)


class BotSignals:
    """The reference bots' signals, day by day: the screen's triggers split by universe, and the strategy
    bots' entry and exit rules (computed once over the panel, causally: row t uses rows <= t)."""

    def __init__(self, panel: DailyPanel, bots: Sequence[ReferenceBot]) -> None:
        self._panel = panel
        self._bots = list(bots)
        self._screen_owner = {s: bot.bot_id for bot in bots if bot.strategy == "screen" for s in bot.universe}
        self._features: dict[str, dict[str, np.ndarray]] = {}
        for bot in bots:
            strategy = _STRATEGIES.get(bot.strategy)
            if strategy is not None:
                part = panel.symbols_subset(bot.universe)
                ohlcv = OhlcvPanel(part.symbols, part.open, part.high, part.low, part.close, part.volume)
                self._features[bot.bot_id] = dict(strategy.features(ohlcv))

    def events(self, row: int, triggers: Sequence[Trigger], holders: Mapping[str, str]) -> list[dict[str, object]]:
        """Day `row`'s signals: the screen bots' in the screen's order, then each strategy bot's by symbol.
        `holders` maps each held symbol to its bot (an exit signal only for a symbol the bot holds)."""
        panel = self._panel
        events = [
            signal_event(panel, trigger, self._screen_owner[panel.symbols[trigger.column]])
            for trigger in triggers
            if panel.symbols[trigger.column] in self._screen_owner
        ]
        for bot in self._bots:
            features = self._features.get(bot.bot_id)
            if features is None:
                continue
            for j, symbol in enumerate(bot.universe):
                column = panel.symbols.index(symbol)
                if features["entry"][row, j] == 1.0:
                    entry = Trigger(row, column, f"{bot.strategy}_entry", "long", 1.0)
                    events.append(signal_event(panel, entry, bot.bot_id))
                if features["exit"][row, j] == 1.0 and holders.get(symbol) == bot.bot_id:
                    leave = Trigger(row, column, f"{bot.strategy}_exit", "short", 1.0)
                    events.append(signal_event(panel, leave, bot.bot_id))
        return events
