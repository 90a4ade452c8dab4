"""Approvals on the production parts: an order parked by one process is approved from another (as `aegis
approvals approve` does), which sees the market through the shared Redis hot context and the approval in
PostgreSQL, and places exactly one order; the approval survives the first process's restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from aegis import Pipeline, Settings
from graphs.deliberation.config import DeliberationConfig
from state.access import Access
from state.approvals import ApprovalStatus
from state.clock import SimulatedClock
from state.decisions import Outcome
from tests.aegis.test_production_stack import BARS, _feed, _script
from tests.conftest import SESSION_DAY, signal
from tools.ops.approvals import ApprovalDecidedError

pytestmark = pytest.mark.services


def _settings(data_dir: Path, postgres: str, redis_url: str, prefix: str) -> Settings:
    roles = {r: {**c.model_dump(), "provider": "scripted"} for r, c in DeliberationConfig().roles.items()}
    config = DeliberationConfig.model_validate({"roles": roles, "approvals": {"all_orders": True}})
    return Settings(data_dir=data_dir, postgres_url=postgres, redis_url=redis_url, redis_prefix=prefix,
                    deliberation=config)  # fmt: skip


async def test_an_order_parked_by_one_process_is_approved_from_another(
    tmp_path: Path, postgres_url: str, redis_namespace: tuple[str, str]
) -> None:
    redis_url, prefix = redis_namespace
    settings = _settings(tmp_path, postgres_url, redis_url, prefix)
    clock = SimulatedClock(BARS[SESSION_DAY].time)
    async with await Pipeline.open(settings, clock=clock, providers={"scripted": _script()}) as running:
        await _feed(running, clock)
        decision = await running.submit(signal("pg-1", BARS[SESSION_DAY]))
    assert decision.outcome is Outcome.AWAITING_APPROVAL, decision.reason
    async with await Pipeline.open(settings, clock=clock, providers={"scripted": _script()}) as operator:
        approved = await operator.approve("order:pg-1", by="ana", role=Access.TRADE, reason="checked")
        assert approved.result is not None and approved.result["outcome"] == "ordered", approved.result
        with pytest.raises(ApprovalDecidedError):
            await operator.approve("order:pg-1", by="ana", role=Access.TRADE, reason="again")
        orders = [o for o in await operator.services.store.open_orders() if o.request.event_id == "pg-1"]
        [held] = await operator.approvals()
    assert len(orders) == 1 and held.status is ApprovalStatus.APPROVED
    assert held.result is not None and held.result["order"]["order_id"] == orders[0].order_id
