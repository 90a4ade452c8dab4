"""Alerts and anomalies: the listings and their filters read the records; acknowledging stops the escalation
and is audited with the caller's key."""

from __future__ import annotations

from typing import Any

import pytest

from aegis.pipeline import Pipeline
from state.alerts import AlertLevel
from tests.aegis.server.conftest import Served, ServeFactory
from tests.aegis.server.helpers import actor, audited, register_bots


@pytest.fixture
async def api(served: ServeFactory) -> Served:
    api = await served()
    raise_alert = api.pipeline.alerting.raise_alert
    await raise_alert(AlertLevel.INFO, "posture_change", "posture guerrilla")
    await raise_alert(AlertLevel.WARNING, "stage_sla", "the analyst missed its SLA twice")
    await raise_alert(AlertLevel.CRITICAL, "loss_per_minute", "loss per minute above the limit")
    return api


def anomaly(pipeline: Pipeline, event_id: str, severity: str, **envelope: Any) -> dict[str, Any]:
    return {"id": event_id, "type": "ANOMALY_DETECTED", "source": "detectors",
            "event_time": pipeline.services.clock.now().isoformat(),
            "payload": {"rule": "bot.loss_streak", "severity": severity, "evidence": {"losses": 7.0}},
            **envelope}  # fmt: skip


async def kinds(api: Served, query: str = "") -> list[str]:
    answer = await api.client.get(f"/api/alerts{query}", headers=api.as_role("read"))
    assert answer.status_code == 200, answer.text
    return [alert["kind"] for alert in answer.json()["alerts"]]


async def test_alerts_are_listed_newest_first_with_filters(api: Served) -> None:
    assert await kinds(api) == ["loss_per_minute", "stage_sla", "posture_change"]
    assert await kinds(api, "?level=warning") == ["loss_per_minute", "stage_sla"]
    assert await kinds(api, "?limit=1") == ["loss_per_minute"]
    assert await kinds(api, "?since=2100-01-01T00:00:00Z") == []
    naive = await api.client.get("/api/alerts?since=2016-01-01T00:00:00", headers=api.as_role("read"))
    assert naive.status_code == 422 and "time zone" in naive.json()["detail"]


async def test_acknowledging_stops_the_escalation_audited_with_the_caller(api: Served) -> None:
    [critical] = await api.pipeline.services.store.alerts(limit=1)
    answer = await api.client.post(f"/api/alerts/{critical.alert_id}/acknowledge", headers=api.as_role("trade"))
    assert answer.status_code == 200, answer.text
    trader = await actor(api, "trade")
    held = await api.pipeline.services.store.get_alert(critical.alert_id)
    assert held is not None and held.acknowledged and held.acknowledged_by == trader
    [entry] = await audited(api, "alert_acknowledged")
    assert (entry["actor"], entry["detail"]) == (trader, {"alert_id": critical.alert_id})
    assert await kinds(api, "?unacknowledged=true") == ["stage_sla", "posture_change"]


async def test_acknowledging_takes_trade_and_an_unknown_alert_is_404(api: Served) -> None:
    [critical] = await api.pipeline.services.store.alerts(limit=1)
    path = f"/api/alerts/{critical.alert_id}/acknowledge"
    assert (await api.client.post(path, headers=api.as_role("read"))).status_code == 403
    assert (await api.client.post(path)).status_code == 401
    assert (await api.client.get("/api/alerts")).status_code == 401
    assert await audited(api, "alert_acknowledged") == []
    missing = await api.client.post("/api/alerts/nope/acknowledge", headers=api.as_role("trade"))
    assert (missing.status_code, missing.json()) == (404, {"detail": "no alert nope"})


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("?level=loud", "invalid request: level: Input should be 'info', 'warning', 'critical' or 'emergency'"),
        ("?limit=0", "invalid request: limit: Input should be greater than or equal to 1"),
    ],
)
async def test_a_malformed_filter_is_422_in_one_line(api: Served, query: str, detail: str) -> None:
    answer = await api.client.get(f"/api/alerts{query}", headers=api.as_role("read"))
    assert (answer.status_code, answer.json()) == (422, {"detail": detail})


async def test_anomalies_are_listed_with_what_the_rules_did(api: Served) -> None:
    pipeline = api.pipeline
    await register_bots(pipeline)
    await pipeline.submit(anomaly(pipeline, "an-1", "MEDIUM", bot_id="energy"))
    await pipeline.submit(anomaly(pipeline, "an-2", "HIGH", bot_id="soft"))
    answer = await api.client.get("/api/anomalies", headers=api.as_role("read"))
    assert answer.status_code == 200, answer.text
    found = answer.json()["anomalies"]
    assert {a["event_id"]: (a["severity"], a["bot_id"], a["outcome"]) for a in found} == {
        "an-1": ("MEDIUM", "energy", "skipped"), "an-2": ("HIGH", "soft", "applied")}  # fmt: skip
    assert [b.bot_id for b in await pipeline.bots.bots() if not b.running] == ["soft"]  # the rule stopped it
    high = (await api.client.get("/api/anomalies?severity=HIGH", headers=api.as_role("read"))).json()
    assert [a["event_id"] for a in high["anomalies"]] == ["an-2"]
    energy = (await api.client.get("/api/anomalies?bot=energy", headers=api.as_role("read"))).json()
    assert [a["event_id"] for a in energy["anomalies"]] == ["an-1"]
    assert (await api.client.get("/api/anomalies")).status_code == 401
    bad = await api.client.get("/api/anomalies?severity=huge", headers=api.as_role("read"))
    assert bad.status_code == 422 and "\n" not in bad.json()["detail"]
