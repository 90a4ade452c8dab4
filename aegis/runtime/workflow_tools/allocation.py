"""The allocation a risk profile gives the running bots: what `portfolio.propose` shows and `portfolio.rebalance`
applies, computed once by the rebalancing's own code (`tools.ops.allocation.propose_allocation`): the running
bots share what the stopped ones do not keep, within the settings' bounds."""

from __future__ import annotations

from quant.portfolio import RiskProfile
from state.store.base import DurableStore
from tools.ops.allocation import AllocationProposal, RebalanceConfig, propose_allocation
from tools.ops.bots import BotControl


async def profile_allocation(
    store: DurableStore, bots: BotControl, config: RebalanceConfig, profile: str
) -> AllocationProposal:
    """The proposal at `profile`; measured without the improvement threshold (the rules judge that)."""
    measured = config.model_copy(update={"risk_level": RiskProfile(profile), "min_sharpe_improvement": 0.0})
    return propose_allocation(await bots.bots(), await store.bot_days(), measured)
