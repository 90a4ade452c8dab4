"""The bots as a portfolio: the analysis (`aegis portfolio --bots`), each risk profile's proposed allocation
(the workflow's `portfolio.propose`), and applying one (trade role; `portfolio.rebalance`'s code, audited with
the caller). Too few bots or too little history to analyse or propose is 409 with the reason."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query

from aegis.runtime.workflow_tools.allocation import (
    NoAllocationError,
    apply_profile_allocation,
    profile_allocation,
    proposal_data,
)
from aegis.server.auth import Context, Reader, Trader
from aegis.server.requests import Reason, Strict
from quant.portfolio import RiskProfile
from tools.ops.portfolio_analysis import analysis_as_json

router = APIRouter(prefix="/api/portfolio", tags=["portfolio"])
Profile = Literal["conservative", "moderate", "aggressive"]


class RebalanceRequest(Strict):
    profile: Profile
    reason: Reason


def _profiles(profile: Profile | None) -> tuple[RiskProfile, ...]:
    return tuple(RiskProfile) if profile is None else (RiskProfile(profile),)


@router.get("", summary="The bots as a portfolio: scorecards, correlation, risk split, the profiles' proposals")
async def analysis(
    context: Context,
    principal: Reader,
    profile: Annotated[Profile | None, Query(description="One risk profile's proposal (default: all three)")] = None,
) -> dict[str, Any]:
    try:
        found = await context.pipeline.portfolio(_profiles(profile))
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    return analysis_as_json(found)


@router.get("/proposals", summary="Each risk profile's allocation of the running bots, against the current one")
async def proposals(
    context: Context,
    principal: Reader,
    profile: Annotated[Profile | None, Query(description="One risk profile (default: all three)")] = None,
) -> dict[str, Any]:
    pipeline = context.pipeline
    config = pipeline.settings.rebalance
    made: dict[str, Any] = {}
    for chosen in _profiles(profile):
        found = await profile_allocation(pipeline.services.store, pipeline.bots, config, chosen.value)
        try:
            made[chosen.value] = {"proposed": True, **proposal_data(found, chosen.value, config.min_sharpe_improvement)}
        except NoAllocationError as exc:
            made[chosen.value] = {"proposed": False, "profile": chosen.value, "reason": str(exc)}
    return {"threshold": config.min_sharpe_improvement, "proposals": made}


@router.post("/rebalance", summary="Apply a risk profile's allocation to the running bots (trade role; audited)")
async def rebalance(body: RebalanceRequest, context: Context, principal: Trader) -> dict[str, Any]:
    pipeline = context.pipeline
    try:
        applied = await apply_profile_allocation(
            pipeline.services.store, pipeline.bots, pipeline.settings.rebalance, body.profile,
            actor=principal.actor, reason=body.reason,
        )  # fmt: skip
    except NoAllocationError as exc:
        raise HTTPException(409, str(exc)) from None
    return {"profile": body.profile, "before": applied.before, "after": applied.after, "why": applied.why,
            "stopped_kept": list(applied.proposal.stopped), "actor": principal.actor}  # fmt: skip
