"""Who may call what: keys and tokens, roles, rate limits, size limits, malformed requests; nothing secret
comes back in a response."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import jwt
import pytest

from state.access import Access
from tests.aegis.server.conftest import ServeFactory

SECRET = "s" * 40
HALT = {"reason": "drill: stop everything"}


def token(role: str = "trade", *, secret: str = SECRET, exp: float | None = None, **claims: object) -> str:
    body = {"sub": "desk-lead", "aegis_role": role, "exp": exp or time.time() + 300, **claims}
    return jwt.encode(body, secret, algorithm="HS256")


async def test_no_credentials_is_401_with_a_bearer_challenge(served: ServeFactory) -> None:
    api = await served()
    answer = await api.client.get("/api/decisions")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in answer.json()["detail"]


@pytest.mark.parametrize(
    "header",
    [
        {"Authorization": "Bearer aegis_000000000000_" + "x" * 43},  # well-formed, unknown
        {"Authorization": "Bearer aegis_nope"},  # malformed key
        {"Authorization": "Basic dXNlcjpwdw=="},  # another scheme
        {"X-API-Key": "not-a-key"},
    ],
)
async def test_a_key_that_does_not_authenticate_is_401(served: ServeFactory, header: dict[str, str]) -> None:
    api = await served()
    answer = await api.client.get("/api/decisions", headers=header)
    assert answer.status_code == 401
    assert "x" * 43 not in answer.text


async def test_each_role_reaches_what_it_allows_and_no_more(served: ServeFactory) -> None:
    api = await served()
    for role, halt_status, resume_status in [("read", 403, 403), ("trade", 200, 403), ("admin", 200, 200)]:
        assert (await api.client.get("/api/decisions", headers=api.as_role(role))).status_code == 200
        halted = await api.client.post("/api/trading/halt", json=HALT, headers=api.as_role(role))
        assert halted.status_code == halt_status, (role, halted.text)
        resumed = await api.client.post("/api/trading/resume", json=HALT, headers=api.as_role(role))
        assert resumed.status_code == resume_status, (role, resumed.text)
    denied = await api.client.post("/api/trading/halt", json=HALT, headers=api.as_role("read"))
    assert denied.json()["detail"] == "this needs the trade role; the caller has read"


async def test_the_x_api_key_header_works_like_the_bearer_one(served: ServeFactory) -> None:
    api = await served()
    answer = await api.client.get("/api/trading", headers={"X-API-Key": api.keys[Access.READ]})
    assert answer.status_code == 200
    assert answer.json()["account"]["state"] == "active"


async def test_a_revoked_key_stops_working(served: ServeFactory) -> None:
    api = await served()
    api.context.keys.cache_s = 0.0
    key_id = next(k.key_id for k in await api.context.keys.keys() if k.role is Access.READ)
    assert (await api.client.get("/api/trading", headers=api.as_role("read"))).status_code == 200
    await api.context.keys.revoke(key_id, by="test", reason="left the desk")
    assert (await api.client.get("/api/trading", headers=api.as_role("read"))).status_code == 401


async def test_the_halt_is_audited_with_the_callers_identity(served: ServeFactory) -> None:
    api = await served()
    assert (await api.client.post("/api/trading/halt", json=HALT, headers=api.as_role("trade"))).status_code == 200
    states = (await api.client.get("/api/trading", headers=api.as_role("read"))).json()
    key_id = next(k.key_id for k in await api.context.keys.keys() if k.role is Access.TRADE)
    assert states["account"]["state"] == "halted"
    assert states["account"]["actor"] == f"key:test-trade#{key_id}"


async def test_hs256_tokens_carry_name_and_role(served: ServeFactory) -> None:
    api = await served(server={"jwt": {"hs256_secret": SECRET}})
    ok = await api.client.post("/api/trading/halt", json=HALT, headers={"Authorization": f"Bearer {token('trade')}"})
    assert ok.status_code == 200
    assert ok.json()["status"]["actor"] == "jwt:desk-lead"
    read = {"Authorization": f"Bearer {token('read')}"}
    assert (await api.client.post("/api/trading/halt", json=HALT, headers=read)).status_code == 403
    for bad in [token(secret="t" * 40), token(exp=time.time() - 3600), token("root"), "a.b.c"]:
        answer = await api.client.get("/api/trading", headers={"Authorization": f"Bearer {bad}"})
        assert answer.status_code == 401, answer.text
        assert bad not in answer.text


async def test_tokens_are_refused_when_no_identity_provider_is_configured(served: ServeFactory) -> None:
    api = await served()
    answer = await api.client.get("/api/trading", headers={"Authorization": f"Bearer {token()}"})
    assert answer.status_code == 401
    assert "not configured" in answer.json()["detail"]


async def test_a_caller_past_its_burst_gets_429_with_retry_after(served: ServeFactory) -> None:
    api = await served(server={"rate_limit": {"per_minute": 60, "burst": 3}})
    codes = [(await api.client.get("/api/trading", headers=api.as_role("read"))).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = await api.client.get("/api/trading", headers=api.as_role("read"))
    assert refused.headers["retry-after"] == "1"
    # another caller has a bucket of its own
    assert (await api.client.get("/api/trading", headers=api.as_role("admin"))).status_code == 200


async def test_failed_logins_are_rate_limited_by_address(served: ServeFactory) -> None:
    api = await served(server={"rate_limit": {"per_minute": 60, "burst": 2}})
    bad = {"Authorization": "Bearer aegis_000000000000_" + "y" * 43}
    codes = [(await api.client.get("/api/trading", headers=bad)).status_code for _ in range(3)]
    assert codes == [401, 401, 429]


async def test_an_oversized_body_is_413_before_the_route_reads_it(served: ServeFactory) -> None:
    api = await served(server={"max_body_bytes": 2048})
    body = {"reason": "x" * 4000}
    answer = await api.client.post("/api/trading/halt", json=body, headers=api.as_role("trade"))
    assert answer.status_code == 413
    assert answer.text == "Content Too Large"  # FastAPI's own limit answers before any route runs
    assert (await api.client.get("/api/trading", headers=api.as_role("read"))).json()["account"]["state"] == "active"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit counts what streams in
        for _ in range(4):
            yield b"x" * 1000

    streamed = await api.client.post("/api/events", content=chunks(), headers=api.as_role("trade"))
    assert streamed.status_code == 413


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"reason": "x"}, "invalid request: reason: String should have at least 3 characters"),
        ({"reason": "fine reason", "extra": 1}, "invalid request: extra: Extra inputs are not permitted"),
        ({}, "invalid request: reason: Field required"),
    ],
)
async def test_a_malformed_request_is_422_in_one_line(
    served: ServeFactory, body: dict[str, object], detail: str
) -> None:
    api = await served()
    answer = await api.client.post("/api/trading/halt", json=body, headers=api.as_role("trade"))
    assert answer.status_code == 422
    assert answer.json() == {"detail": detail}


async def test_invalid_json_is_422_in_one_line(served: ServeFactory) -> None:
    api = await served()
    answer = await api.client.post(
        "/api/trading/halt", content=b"{not json", headers={**api.as_role("trade"), "Content-Type": "application/json"}
    )
    assert answer.status_code == 422
    assert "\n" not in answer.json()["detail"]


async def test_cors_answers_only_the_configured_origins(served: ServeFactory) -> None:
    api = await served(server={"cors_origins": ["https://ops.example"]})
    preflight = {"Origin": "https://ops.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization"}  # fmt: skip
    allowed = await api.client.options("/api/trading/halt", headers=preflight)
    assert allowed.headers["access-control-allow-origin"] == "https://ops.example"
    other = await api.client.options("/api/trading/halt", headers={**preflight, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


async def test_health_routes_are_open_to_probes(served: ServeFactory) -> None:
    api = await served()
    assert (await api.client.get("/api/health/live")).json() == {"status": "ok"}
    ready = await api.client.get("/api/health/ready")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True


async def test_readiness_reads_the_health_monitor_running_in_the_server(served: ServeFactory) -> None:
    api = await served(server={"health_monitor": True})
    ready = await api.client.get("/api/health/ready")
    body = ready.json()
    assert ready.status_code == (200 if body["ready"] else 503)
    components = {c["component"]: c["status"] for c in body["components"]}
    assert {"postgres", "redis", "bus", "disk", "memory"} <= set(components), components
    assert body["origin"] == api.context.health.origin  # type: ignore[union-attr]
