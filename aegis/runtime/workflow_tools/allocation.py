"""The allocation a risk profile gives the running bots: what `portfolio.propose` shows and `portfolio.rebalance`
applies, computed once by the rebalancing's own code (`tools.ops.allocation.propose_allocation`): the running
bots share what the stopped ones do not keep, within the settings' bounds. The workflow's tools and the REST
API (`/api/portfolio/proposals`, `/api/portfolio/rebalance`) both call these functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quant.portfolio import RiskProfile
from state.store.base import DurableStore
from tools.ops.allocation import AllocationProposal, RebalanceConfig, propose_allocation
from tools.ops.bots import BotControl


class NoAllocationError(ValueError):
    """No allocation can be proposed at the profile (too little history, one bot running, ...): the reason."""


async def profile_allocation(
    store: DurableStore, bots: BotControl, config: RebalanceConfig, profile: str
) -> AllocationProposal:
    """The proposal at `profile`; measured without the improvement threshold (the rules judge that)."""
    measured = config.model_copy(update={"risk_level": RiskProfile(profile), "min_sharpe_improvement": 0.0})
    return propose_allocation(await bots.bots(), await store.bot_days(), measured)


def proposal_data(found: AllocationProposal, profile: str, threshold: float) -> dict[str, Any]:
    """A made proposal as data: allocations before and after (percent), Sharpe ratios, turnover, and whether
    the improvement meets `threshold` (what the scheduled rebalancing needs to apply it)."""
    proposal = found.proposal
    if proposal is None:
        raise NoAllocationError(f"no {profile} allocation can be proposed: {found.reason}")
    before = dict(zip(found.bot_ids, (round(w * 100, 2) for w in found.current), strict=True))
    after = {bot: round(share * 100, 2) for bot, share in found.target.items()}
    return {"profile": profile, "before": before, "after": after, "stopped_kept": list(found.stopped),
            "sharpe_before": round(proposal.before.sharpe, 4), "sharpe_after": round(proposal.after.sharpe, 4),
            "sharpe_improvement": round(proposal.sharpe_improvement, 4), "turnover": round(proposal.turnover, 4),
            "history_days": found.history_days,
            "meets_threshold": proposal.sharpe_improvement >= threshold}  # fmt: skip


@dataclass(frozen=True, slots=True)
class AppliedAllocation:
    profile: str
    proposal: AllocationProposal
    before: dict[str, float]  # percent of equity, the running bots that moved
    after: dict[str, float]

    @property
    def why(self) -> str:
        found = self.proposal
        return f"the {self.profile} optimiser over {found.history_days} days of the bots' returns: {found.reason}"


async def apply_profile_allocation(
    store: DurableStore, bots: BotControl, config: RebalanceConfig, profile: str, *, actor: str, reason: str
) -> AppliedAllocation:
    """Apply the allocation at `profile` to the running bots (`BotControl.set_allocations`: all or none,
    audited with `actor` and `reason`); `NoAllocationError` when none can be proposed."""
    registered = await bots.bots()
    found = await profile_allocation(store, bots, config, profile)
    if found.proposal is None:
        raise NoAllocationError(f"no {profile} allocation can be proposed: {found.reason}")
    target = found.target
    before = {b.bot_id: round(b.allocation * 100, 2) for b in registered if b.bot_id in target}
    await bots.set_allocations(target, actor=actor, reason=f"{reason} ({profile})")
    after = {bot: round(share * 100, 2) for bot, share in target.items()}
    return AppliedAllocation(profile, found, before, after)
