"""The portfolio routes: the analysis and the proposals are the CLI's and the workflow's figures; a rebalance
applies the proposal, audited with the caller's key."""

from __future__ import annotations

import pytest

from aegis.runtime.workflow_tools.allocation import profile_allocation
from tests.aegis.server.conftest import Served, ServeFactory
from tests.aegis.server.helpers import BOTS, actor, audited, register_bots

REBALANCE = {"profile": "conservative", "reason": "quarterly review"}


@pytest.fixture
async def api(served: ServeFactory) -> Served:
    api = await served()
    await register_bots(api.pipeline, days=60)
    return api


async def test_the_analysis_is_the_pipelines(api: Served) -> None:
    answer = await api.client.get("/api/portfolio", headers=api.as_role("read"))
    assert answer.status_code == 200, answer.text
    found = answer.json()
    direct = await api.pipeline.portfolio()
    assert set(found["scorecard"]) == set(BOTS)
    assert found["current"]["diversification_ratio"] == pytest.approx(direct.diversification_ratio)
    assert set(found["proposals"]) == {"conservative", "moderate", "aggressive"}
    one = await api.client.get("/api/portfolio?profile=moderate", headers=api.as_role("read"))
    assert set(one.json()["proposals"]) == {"moderate"}


async def test_too_few_bots_to_analyse_is_409_with_the_reason(served: ServeFactory) -> None:
    api = await served()
    answer = await api.client.get("/api/portfolio", headers=api.as_role("read"))
    assert answer.status_code == 409
    assert "at least two" in answer.json()["detail"]


async def test_the_proposals_are_the_workflows(api: Served) -> None:
    answer = await api.client.get("/api/portfolio/proposals", headers=api.as_role("read"))
    assert answer.status_code == 200, answer.text
    proposals = answer.json()["proposals"]
    conservative = proposals["conservative"]
    assert conservative["proposed"] is True and set(conservative["after"]) == set(BOTS)
    found = await profile_allocation(api.pipeline.services.store, api.pipeline.bots,
                                     api.pipeline.settings.rebalance, "conservative")  # fmt: skip
    assert conservative["after"] == {b: round(w * 100, 2) for b, w in found.target.items()}


async def test_a_rebalance_applies_the_proposal_audited_with_the_caller(api: Served) -> None:
    proposed = (await api.client.get("/api/portfolio/proposals", headers=api.as_role("read"))).json()
    applied = await api.client.post("/api/portfolio/rebalance", json=REBALANCE, headers=api.as_role("trade"))
    assert applied.status_code == 200, applied.text
    after = {b.bot_id: round(b.allocation * 100, 2) for b in await api.pipeline.bots.bots()}
    assert after == proposed["proposals"]["conservative"]["after"] == applied.json()["after"]
    [entry] = await audited(api, "allocation_applied")
    assert entry["actor"] == await actor(api, "trade")
    assert entry["detail"]["reason"] == "quarterly review (conservative)"


async def test_a_rebalance_without_history_is_409_and_changes_nothing(served: ServeFactory) -> None:
    api = await served()
    await register_bots(api.pipeline)
    answer = await api.client.post("/api/portfolio/rebalance", json=REBALANCE, headers=api.as_role("admin"))
    assert answer.status_code == 409
    assert "no conservative allocation can be proposed" in answer.json()["detail"]
    assert await audited(api, "allocation_applied") == []


async def test_reading_takes_read_and_rebalancing_trade(api: Served) -> None:
    refused = await api.client.post("/api/portfolio/rebalance", json=REBALANCE, headers=api.as_role("read"))
    assert refused.status_code == 403
    assert (await api.client.post("/api/portfolio/rebalance", json=REBALANCE)).status_code == 401
    assert (await api.client.get("/api/portfolio/proposals")).status_code == 401
    assert await audited(api, "allocation_applied") == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"profile": "reckless", "reason": "why not"},
         "invalid request: profile: Input should be 'conservative', 'moderate' or 'aggressive'"),
        ({"profile": "moderate"}, "invalid request: reason: Field required"),
        ({**REBALANCE, "dry_run": True}, "invalid request: dry_run: Extra inputs are not permitted"),
    ],
)  # fmt: skip
async def test_a_malformed_rebalance_is_422_in_one_line(api: Served, body: dict[str, object], detail: str) -> None:
    answer = await api.client.post("/api/portfolio/rebalance", json=body, headers=api.as_role("trade"))
    assert (answer.status_code, answer.json()) == (422, {"detail": detail})
