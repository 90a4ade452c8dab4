"""Every route against every role, walked from the app's own OpenAPI paths: a route added later without auth,
or without a role in this table, fails here. And a mutating route past its caller's burst: 429, no change."""

from __future__ import annotations

import re

import pytest

from aegis.server.app import OPEN_PATHS
from state.access import Access
from tests.aegis.server.conftest import Served, ServeFactory
from tests.aegis.server.helpers import BOTS, audited, register_bots

OPEN = {*OPEN_PATHS, "/api/health/live", "/api/health/ready"}  # probes and docs: no key
READ, TRADE, ADMIN = Access.READ, Access.TRADE, Access.ADMIN
ROLES: dict[tuple[str, str], Access] = {
    ("POST", "/api/events"): TRADE,
    ("GET", "/api/events/{event_id}"): READ,
    ("GET", "/api/decisions"): READ,
    ("GET", "/api/decisions/{event_id}"): READ,
    ("GET", "/api/status"): READ,
    ("GET", "/api/trading"): READ,
    ("POST", "/api/trading/halt"): TRADE,
    ("POST", "/api/trading/resume"): ADMIN,
    ("GET", "/api/portfolio"): READ,
    ("GET", "/api/portfolio/proposals"): READ,
    ("POST", "/api/portfolio/rebalance"): TRADE,
    ("GET", "/api/bots"): READ,
    ("POST", "/api/bots/{bot_id}/stop"): TRADE,
    ("POST", "/api/bots/{bot_id}/resume"): TRADE,
    ("GET", "/api/anomalies"): READ,
    ("GET", "/api/alerts"): READ,
    ("POST", "/api/alerts/{alert_id}/acknowledge"): TRADE,
    ("GET", "/api/rules"): READ,
    ("POST", "/api/rules"): ADMIN,
    ("GET", "/api/rules/{rule_id}"): READ,
    ("PATCH", "/api/rules/{rule_id}"): ADMIN,
    ("POST", "/api/rules/{rule_id}/disable"): ADMIN,
    ("POST", "/api/rules/{rule_id}/enable"): ADMIN,
    ("GET", "/api/posture"): READ,
    ("POST", "/api/posture/override"): TRADE,
    ("POST", "/api/posture/clear"): TRADE,
    ("GET", "/api/limits"): READ,
    ("PUT", "/api/limits/{name}"): TRADE,
    ("POST", "/api/limits/{name}/reset"): TRADE,
    ("POST", "/api/workflow"): READ,
    ("GET", "/api/workflow/{request_id}"): READ,
    ("POST", "/api/workflow/{request_id}/approve"): TRADE,
    ("POST", "/api/workflow/{request_id}/reject"): TRADE,
    ("GET", "/api/approvals"): READ,
    ("POST", "/api/approvals/{approval_id}/approve"): TRADE,
    ("POST", "/api/approvals/{approval_id}/reject"): TRADE,
    ("GET", "/api/stream"): READ,
    ("GET", "/api/whoami"): READ,
    ("GET", "/api/dashboard/equity"): READ,
    ("GET", "/api/dashboard/latency"): READ,
}
BELOW = {TRADE: READ, ADMIN: TRADE}


async def operations(api: Served) -> list[tuple[str, str]]:
    """Every (method, path) of the app's OpenAPI document (`app.openapi()`, served at /openapi.json), the open
    ones left out."""
    paths = (await api.client.get("/openapi.json")).json()["paths"]
    return [(method.upper(), path) for path, item in paths.items() if path not in OPEN for method in item]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


@pytest.fixture
async def api(served: ServeFactory) -> Served:
    return await served(server={"rate_limit": {"burst": 1000, "per_minute": 6000}})


async def test_every_route_but_the_open_ones_answers_401_without_credentials(api: Served) -> None:
    found = await operations(api)
    assert len(found) >= len(ROLES)
    for method, path in found:
        answer = await api.client.request(method, concrete(path))
        assert answer.status_code == 401, (method, path, answer.status_code)
        assert answer.headers["www-authenticate"] == "Bearer"


async def test_every_route_has_its_role_and_the_role_below_gets_403(api: Served) -> None:
    found = await operations(api)
    assert sorted(found) == sorted(ROLES), "a route was added or removed: give it its role in ROLES"
    for (method, path), needed in ROLES.items():
        if needed in BELOW:
            below = BELOW[needed]
            answer = await api.client.request(method, concrete(path), headers=api.as_role(below))
            assert answer.status_code == 403, (method, path, answer.text)
            assert answer.json()["detail"] == f"this needs the {needed} role; the caller has {below}"


async def test_the_open_routes_answer_without_credentials(api: Served) -> None:
    for path in ("/api/health", "/api/health/live", "/api/health/ready", "/openapi.json"):
        assert (await api.client.get(path)).status_code == 200, path


async def test_a_mutating_route_past_the_callers_burst_is_429_with_retry_after_and_changes_nothing(
    served: ServeFactory,
) -> None:
    api = await served(server={"rate_limit": {"per_minute": 60, "burst": 2}})
    await register_bots(api.pipeline)
    codes, retry = [], None
    for bot in BOTS:
        answer = await api.client.post(f"/api/bots/{bot}/stop", json={"reason": "drill"}, headers=api.as_role("trade"))
        codes.append(answer.status_code)
        retry = answer.headers.get("retry-after")
    assert codes == [200, 200, 429]
    assert retry is not None and int(retry) >= 1
    assert [b.bot_id for b in await api.pipeline.bots.bots() if b.running] == ["soft"]
    assert len(await audited(api, "bot_stopped")) == 2


async def test_metrics_are_scraped_after_events_and_closed_when_not_public(served: ServeFactory) -> None:
    from tests.conftest import bundled_bars, signal

    api = await served()
    bar = bundled_bars()[200]
    for n in range(2):
        answer = await api.client.post("/api/events", json=signal(f"sig-{n}", bar), headers=api.as_role("trade"))
        assert answer.status_code == 200, answer.text
    scrape = (await api.client.get("/metrics")).text
    outcome = (await api.pipeline.services.store.get_decision("sig-0")).outcome  # type: ignore[union-attr]
    assert f'aegis_events_total{{event_type="SIGNAL_GENERATED",outcome="{outcome}"}}' in scrape
    closed = await served(server={"metrics_public": False})
    assert (await closed.client.get("/metrics")).status_code == 401
    assert (await closed.client.get("/metrics", headers=closed.as_role("read"))).status_code == 200
