"""The posture and the risk limits: reading takes read; a change takes trade when it tightens and admin when it
loosens, as the controls decide from the caller's role; every change is audited with the caller's key."""

from __future__ import annotations

import pytest

from quant.posture import Posture
from state.access import Access
from tests.aegis.server.conftest import Served, ServeFactory
from tests.aegis.server.helpers import actor, audited

DEFENSIVE = {"posture": "defensive", "reason": "FOMC at 14:00", "minutes": 90}
DAILY = "/api/limits/daily_loss_limit_pct"


@pytest.fixture
async def api(served: ServeFactory) -> Served:
    return await served()  # VIX 14: offensive


async def posture(api: Served) -> Posture:
    return (await api.pipeline.posture.current()).posture


async def test_the_posture_is_read_with_its_source(api: Served) -> None:
    answer = await api.client.get("/api/posture", headers=api.as_role("read"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["current"]["posture"] == "offensive" and answer.json()["override"] is None
    assert (await api.client.get("/api/posture")).status_code == 401


async def test_tightening_takes_trade_and_is_audited_with_the_caller(api: Served) -> None:
    refused = await api.client.post("/api/posture/override", json=DEFENSIVE, headers=api.as_role("read"))
    assert refused.status_code == 403 and await posture(api) is Posture.OFFENSIVE
    assert (await api.client.post("/api/posture/override", json=DEFENSIVE)).status_code == 401
    answer = await api.client.post("/api/posture/override", json=DEFENSIVE, headers=api.as_role("trade"))
    assert answer.status_code == 200, answer.text
    assert await posture(api) is Posture.DEFENSIVE
    trader = await actor(api, "trade")
    current = answer.json()["current"]
    assert (current["source"], current["actor"]) == ("override", trader)
    assert [e["actor"] for e in await audited(api, "posture_override")] == [trader]
    shown = (await api.client.get("/api/posture", headers=api.as_role("read"))).json()
    assert shown["override"]["posture"] == "defensive" and shown["changes"][-1]["posture"] == "defensive"


async def test_loosening_takes_admin_as_the_control_decides(api: Served) -> None:
    await api.pipeline.posture.override(Posture.DEFENSIVE, reason="drill", actor="test", role=Access.TRADE)
    offensive = {"posture": "offensive", "reason": "calm again"}
    refused = await api.client.post("/api/posture/override", json=offensive, headers=api.as_role("trade"))
    assert refused.status_code == 403
    assert (
        refused.json()["detail"] == "overriding the posture to offensive needs the admin role; trade does not allow it"
    )
    clear = {"reason": "drill over"}
    refused = await api.client.post("/api/posture/clear", json=clear, headers=api.as_role("trade"))
    assert refused.status_code == 403 and "clearing the posture override needs the admin role" in refused.text
    assert await posture(api) is Posture.DEFENSIVE

    cleared = await api.client.post("/api/posture/clear", json=clear, headers=api.as_role("admin"))
    assert cleared.status_code == 200, cleared.text
    assert await posture(api) is Posture.OFFENSIVE
    [entry] = await audited(api, "posture_override_ended")
    assert entry["actor"] == await actor(api, "admin")
    nothing = await api.client.post("/api/posture/clear", json=clear, headers=api.as_role("admin"))
    assert (nothing.status_code, nothing.json()) == (409, {"detail": "no posture override is in force"})


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"posture": "reckless", "reason": "why not"}, "invalid request: request: Value error, unknown posture "
                                                       "'reckless': one of offensive, guerrilla, defensive, neutral"),
        ({**DEFENSIVE, "until": "2030-01-01T00:00:00Z"},
         "invalid request: request: Value error, give until or minutes, not both"),
        ({"posture": "defensive", "reason": "x", "minutes": 5},
         "invalid request: reason: String should have at least 3 characters"),
        ({**DEFENSIVE, "minutes": -1}, "invalid request: minutes: Input should be greater than 0"),
    ],
)  # fmt: skip
async def test_a_malformed_override_is_422_in_one_line(api: Served, body: dict[str, object], detail: str) -> None:
    answer = await api.client.post("/api/posture/override", json=body, headers=api.as_role("trade"))
    assert (answer.status_code, answer.json()) == (422, {"detail": detail})
    assert await audited(api, "posture_override") == []


async def test_the_limits_are_read_with_their_settings(api: Served) -> None:
    answer = await api.client.get("/api/limits", headers=api.as_role("read"))
    assert answer.status_code == 200, answer.text
    limits = {limit["name"]: limit for limit in answer.json()["limits"]}
    assert limits["daily_loss_limit_pct"]["in_force"] == limits["daily_loss_limit_pct"]["setting"] == 3.0
    assert (await api.client.get("/api/limits")).status_code == 401


async def test_a_limit_tightened_by_trade_loosened_by_admin_audited_with_each(api: Served) -> None:
    assert (
        await api.client.put(DAILY, json={"value": 2, "reason": "rough"}, headers=api.as_role("read"))
    ).status_code == 403
    assert (await api.client.put(DAILY, json={"value": 2, "reason": "rough"})).status_code == 401
    tightened = await api.client.put(DAILY, json={"value": 2, "reason": "rough week"}, headers=api.as_role("trade"))
    assert tightened.status_code == 200, tightened.text
    assert (await api.pipeline.limits.current()).daily_loss_limit_pct == 2.0

    loosen = {"value": 4, "reason": "back to normal"}
    refused = await api.client.put(DAILY, json=loosen, headers=api.as_role("trade"))
    assert refused.status_code == 403
    assert (
        refused.json()["detail"]
        == "setting daily_loss_limit_pct from 2 to 4 % needs the admin role; trade does not allow it"
    )
    reset = await api.client.post(f"{DAILY}/reset", json={"reason": "the setting"}, headers=api.as_role("trade"))
    assert reset.status_code == 403  # back to 3 % loosens
    assert (await api.pipeline.limits.current()).daily_loss_limit_pct == 2.0

    loosened = await api.client.put(DAILY, json=loosen, headers=api.as_role("admin"))
    assert loosened.status_code == 200 and loosened.json()["change"]["role"] == "admin"
    reset = await api.client.post(f"{DAILY}/reset", json={"reason": "the setting"}, headers=api.as_role("trade"))
    assert reset.status_code == 200, reset.text  # back to 3 % tightens
    assert (await api.pipeline.limits.current()).daily_loss_limit_pct == 3.0
    trader, admin = await actor(api, "trade"), await actor(api, "admin")
    assert [(e["actor"], e["detail"]["to"]) for e in await audited(api, "risk_limit_set")] == [
        (admin, 4.0),
        (trader, 2.0),
    ]
    assert [e["actor"] for e in await audited(api, "risk_limit_reset")] == [trader]
    assert (await api.client.post(f"{DAILY}/reset", json={"reason": "again"})).status_code == 401


@pytest.mark.parametrize(
    ("path", "body", "status", "detail"),
    [
        (DAILY, {"value": "lots", "reason": "why not"}, 422,
         "invalid request: value: Input should be a valid number, unable to parse string as a number"),
        (DAILY, {"value": -1, "reason": "why not"}, 422,
         "daily_loss_limit_pct must be a positive finite percent, got -1.0"),
        (DAILY, {"value": 2}, 422, "invalid request: reason: Field required"),
        ("/api/limits/leverage", {"value": 2, "reason": "why not"}, 404,
         "unknown risk limit 'leverage' (limits: daily_loss_limit_pct, max_concentration_pct, "
         "max_gross_exposure_pct, price_band_pct)"),
    ],
)  # fmt: skip
async def test_a_malformed_limit_change_is_refused_in_one_line(
    api: Served, path: str, body: dict[str, object], status: int, detail: str
) -> None:
    answer = await api.client.put(path, json=body, headers=api.as_role("admin"))
    assert (answer.status_code, answer.json()) == (status, {"detail": detail})
    assert (await api.pipeline.limits.current()).daily_loss_limit_pct == 3.0
