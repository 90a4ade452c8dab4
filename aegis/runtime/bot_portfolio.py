"""The bots as a portfolio, labelled: their sleeves' growth as a DataFrame, and its analysis.

Kept apart from `aegis.runtime.bot_report` so that importing the run's summary does not import pandas.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from quant.portfolio import RiskProfile
from state.store.base import DurableStore
from tools.ops.allocation import RebalanceConfig, bot_returns
from tools.ops.portfolio_analysis import PortfolioAnalysis, analyse_portfolio


async def bot_values(store: DurableStore) -> pd.DataFrame:
    """Each bot's sleeve as a growth series starting at 1 (dates x bot ids), from its daily returns: what
    `tools.ops.portfolio_analysis.analyse_portfolio` reads, labelled."""
    ids = [bot.bot_id for bot in await store.bots()]
    history = bot_returns(await store.bot_days(), ids)
    if not history.days:
        return pd.DataFrame(columns=ids, index=pd.DatetimeIndex([], name="date"), dtype=float)
    index = pd.DatetimeIndex(history.growth_days(), name="date")
    return pd.DataFrame(history.growth(), index=index, columns=ids)


async def bot_portfolio(
    store: DurableStore, config: RebalanceConfig, profiles: Iterable[RiskProfile | str] = tuple(RiskProfile)
) -> PortfolioAnalysis:
    """The portfolio analysis of the bots: their scorecards, correlation, risk split at their current
    allocation, and the three risk profiles' allocations with their expected improvement, under the
    rebalancing's bounds and risk-free rate. Raises `ValueError` when the records hold fewer than two bots
    or too little history to analyse."""
    bots = await store.bots()
    if len(bots) < 2:
        raise ValueError(f"{len(bots)} bot registered: a portfolio of bots needs at least two")
    values = await bot_values(store)
    if len(values) < 3:
        raise ValueError(f"{max(len(values) - 1, 0)} days of returns: too little history to analyse the bots")
    weights = pd.Series({bot.bot_id: bot.allocation for bot in bots})
    return analyse_portfolio(
        values,
        weights,
        bounds=(config.min_allocation, config.max_allocation),
        risk_free_rate=config.risk_free_rate,
        min_relative_improvement=config.min_sharpe_improvement,
        profiles=profiles,
    )
