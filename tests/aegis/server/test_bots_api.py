"""The bots' routes: the list is `aegis bots list`'s rows; stop and resume go through `BotControl`, audited with
the caller's key, a reason required."""

from __future__ import annotations

import pytest

from aegis.runtime.bot_report import bot_rows
from tests.aegis.server.conftest import Served, ServeFactory
from tests.aegis.server.helpers import BOTS, actor, audited, register_bots

STOP = {"reason": "misbehaving since the open"}


@pytest.fixture
async def api(served: ServeFactory) -> Served:
    api = await served()
    await register_bots(api.pipeline, days=30)
    return api


async def running(api: Served) -> dict[str, bool]:
    return {bot.bot_id: bot.running for bot in await api.pipeline.bots.bots()}


async def test_the_list_is_the_clis_rows(api: Served) -> None:
    answer = await api.client.get("/api/bots", headers=api.as_role("read"))
    assert answer.status_code == 200, answer.text
    listed = answer.json()["bots"]
    rows = await bot_rows(api.pipeline.services.store)
    assert [b["bot_id"] for b in listed] == list(BOTS)
    for shown, row in zip(listed, rows, strict=True):
        assert (shown["state"], shown["allocation"], shown["pnl"], shown["days"]) == (
            row.state, row.allocation, row.pnl, row.days)  # fmt: skip
        assert shown["sharpe"] == pytest.approx(row.sharpe)


async def test_stop_and_resume_are_audited_with_the_callers_key(api: Served) -> None:
    stopped = await api.client.post("/api/bots/energy/stop", json=STOP, headers=api.as_role("trade"))
    assert stopped.status_code == 200, stopped.text
    assert await running(api) == {"apple": True, "energy": False, "soft": True}
    trader = await actor(api, "trade")
    assert stopped.json()["bot"]["actor"] == trader
    [entry] = await audited(api, "bot_stopped")
    assert (entry["actor"], entry["detail"]["reason"]) == (trader, STOP["reason"])
    listed = (await api.client.get("/api/bots", headers=api.as_role("read"))).json()["bots"]
    assert [b["state"] for b in listed] == ["running", "stopped", "running"]

    resumed = await api.client.post("/api/bots/energy/resume", json={"reason": "fixed"}, headers=api.as_role("admin"))
    assert resumed.status_code == 200, resumed.text
    assert await running(api) == dict.fromkeys(BOTS, True)
    [entry] = await audited(api, "bot_running")
    assert entry["actor"] == await actor(api, "admin")


async def test_a_stop_with_an_end(api: Served) -> None:
    body = {**STOP, "until": "2030-01-02T00:00:00Z"}
    answer = await api.client.post("/api/bots/soft/stop", json=body, headers=api.as_role("trade"))
    assert answer.json()["bot"]["stopped_until"] == "2030-01-02T00:00:00Z"
    listed = (await api.client.get("/api/bots", headers=api.as_role("read"))).json()["bots"]
    assert listed[2]["stopped_until"] == "2030-01-02T00:00:00+00:00"


async def test_an_unknown_bot_is_404(api: Served) -> None:
    answer = await api.client.post("/api/bots/ghost/stop", json=STOP, headers=api.as_role("trade"))
    assert answer.status_code == 404
    assert answer.json()["detail"] == "no bot 'ghost' (bots: apple, energy, soft)"


@pytest.mark.parametrize("action", ["stop", "resume"])
async def test_read_is_403_and_no_key_401(api: Served, action: str) -> None:
    refused = await api.client.post(f"/api/bots/apple/{action}", json=STOP, headers=api.as_role("read"))
    assert refused.status_code == 403
    assert (await api.client.post(f"/api/bots/apple/{action}", json=STOP)).status_code == 401
    assert (await api.client.get("/api/bots")).status_code == 401
    assert await running(api) == dict.fromkeys(BOTS, True)
    assert await audited(api, "bot_stopped") == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "invalid request: reason: Field required"),
        ({"reason": "    "}, "invalid request: reason: String should have at least 3 characters"),
        ({**STOP, "until": "2030-01-02T00:00:00"}, "invalid request: until: Input should have timezone info"),
    ],
)
async def test_a_malformed_stop_is_422_in_one_line(api: Served, body: dict[str, object], detail: str) -> None:
    answer = await api.client.post("/api/bots/apple/stop", json=body, headers=api.as_role("trade"))
    assert (answer.status_code, answer.json()) == (422, {"detail": detail})
