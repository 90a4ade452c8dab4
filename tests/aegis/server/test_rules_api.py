"""The rules' routes: reading takes read; every write takes admin, is validated whole by `RuleControl`, is the
rule's next version, audited with the caller's key, and changes what the flows do."""

from __future__ import annotations

import pytest

from state.decisions import Outcome
from tests.aegis.server.conftest import Served, ServeFactory
from tests.aegis.server.helpers import actor, audited, register_bots
from tests.aegis.server.test_alerts_api import anomaly

HIGH_STOPS = "anomaly-high-stops-bot"
BURST = {
    "rule_id": "burst-stops-bot", "description": "a bot trading in bursts stops", "event_type": "ANOMALY_DETECTED",
    "priority": 850, "conditions": [{"field": "payload.rule", "op": "==", "value": "bot.trade_burst"}],
    "actions": [{"kind": "stop_bot"}, {"kind": "alert", "params": {"level": "warning"}}],
}  # fmt: skip
WHY = {"reason": "review of the anomaly answers"}


@pytest.fixture
async def api(served: ServeFactory) -> Served:
    return await served()


async def test_rules_are_listed_in_evaluation_order_and_read_with_their_versions(api: Served) -> None:
    answer = await api.client.get("/api/rules", headers=api.as_role("read"))
    assert answer.status_code == 200, answer.text
    listed = answer.json()["rules"]
    assert [r["rule_id"] for r in listed] == [r.rule_id for r in await api.pipeline.rules.rules()]
    one = (await api.client.get(f"/api/rules/{HIGH_STOPS}", headers=api.as_role("read"))).json()
    assert one["rule"]["version"] == 1 and [v["version"] for v in one["versions"]] == [1]
    missing = await api.client.get("/api/rules/nope", headers=api.as_role("read"))
    assert missing.status_code == 404 and "no rule 'nope'" in missing.json()["detail"]


async def test_a_disabled_rule_stops_acting_and_the_change_is_audited(api: Served) -> None:
    pipeline = api.pipeline
    await register_bots(pipeline)
    answer = await api.client.post(f"/api/rules/{HIGH_STOPS}/disable", json=WHY, headers=api.as_role("admin"))
    assert answer.status_code == 200, answer.text
    assert (answer.json()["rule"]["version"], answer.json()["rule"]["enabled"]) == (2, False)
    decided = await pipeline.submit(anomaly(pipeline, "an-1", "HIGH", bot_id="soft"))
    assert decided.outcome is not Outcome.APPLIED and all(b.running for b in await pipeline.bots.bots())
    admin = await actor(api, "admin")
    [entry] = await audited(api, "rule_changed")
    assert (entry["actor"], entry["detail"]["reason"], entry["detail"]["version"]) == (admin, WHY["reason"], 2)

    enabled = await api.client.post(f"/api/rules/{HIGH_STOPS}/enable", json=WHY, headers=api.as_role("admin"))
    assert enabled.json()["rule"]["enabled"] is True
    decided = await pipeline.submit(anomaly(pipeline, "an-2", "HIGH", bot_id="soft"))
    assert decided.outcome is Outcome.APPLIED
    assert [b.bot_id for b in await pipeline.bots.bots() if not b.running] == ["soft"]


async def test_a_rule_added_then_changed(api: Served) -> None:
    added = await api.client.post("/api/rules", json={"rule": BURST, **WHY}, headers=api.as_role("admin"))
    assert added.status_code == 201, added.text
    assert (await api.pipeline.rules.get("burst-stops-bot")).changed_by == await actor(api, "admin")
    again = await api.client.post("/api/rules", json={"rule": BURST, **WHY}, headers=api.as_role("admin"))
    assert again.status_code == 422 and "exists already" in again.json()["detail"]

    change = {"priority": 950, "description": "bursts first", **WHY}
    changed = await api.client.patch("/api/rules/burst-stops-bot", json=change, headers=api.as_role("admin"))
    assert changed.status_code == 200, changed.text
    held = await api.pipeline.rules.get("burst-stops-bot")
    assert (held.version, held.priority, held.description) == (2, 950, "bursts first")
    admin = await actor(api, "admin")
    assert [e["actor"] for e in await audited(api, "rule_changed")] == [admin]
    assert [e["detail"]["rule_id"] for e in await audited(api, "rule_added") if e["actor"] == admin] == [
        "burst-stops-bot"
    ]


async def test_a_rule_that_does_not_validate_changes_nothing(api: Served) -> None:
    bad = {**BURST, "actions": [{"kind": "launch_missiles"}]}
    answer = await api.client.post("/api/rules", json={"rule": bad, **WHY}, headers=api.as_role("admin"))
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("invalid rule: actions.0.kind:")
    wrong = {"conditions": [{"field": "payload.severity", "op": "in", "value": "HIGH"}], **WHY}
    changed = await api.client.patch(f"/api/rules/{HIGH_STOPS}", json=wrong, headers=api.as_role("admin"))
    assert changed.status_code == 422 and "a list is needed" in changed.json()["detail"]
    assert (await api.pipeline.rules.get(HIGH_STOPS)).version == 1
    assert await audited(api, "rule_changed") == []
    assert all(e["actor"] == "system" for e in await audited(api, "rule_added"))  # the defaults only


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/rules", {"rule": BURST, **WHY}),
        ("PATCH", f"/api/rules/{HIGH_STOPS}", {"priority": 1, **WHY}),
        ("POST", f"/api/rules/{HIGH_STOPS}/disable", WHY),
        ("POST", f"/api/rules/{HIGH_STOPS}/enable", WHY),
    ],
)
async def test_writing_rules_takes_admin(api: Served, method: str, path: str, body: dict[str, object]) -> None:
    for role in ("read", "trade"):
        answer = await api.client.request(method, path, json=body, headers=api.as_role(role))
        assert answer.status_code == 403, (role, answer.text)
    assert (await api.client.request(method, path, json=body)).status_code == 401
    assert (await api.client.get("/api/rules")).status_code == 401
    assert {r.version for r in await api.pipeline.rules.rules()} == {1}


@pytest.mark.parametrize(
    ("method", "path", "body", "detail"),
    [
        ("PATCH", f"/api/rules/{HIGH_STOPS}", WHY,
         "invalid request: request: Value error, nothing to change: give description, priority, conditions or actions"),
        ("PATCH", f"/api/rules/{HIGH_STOPS}", {"version": 7, **WHY},
         "invalid request: version: Extra inputs are not permitted"),
        ("POST", "/api/rules", {"rule": BURST}, "invalid request: reason: Field required"),
        ("POST", f"/api/rules/{HIGH_STOPS}/disable", {"reason": 3},
         "invalid request: reason: Input should be a valid string"),
    ],
)  # fmt: skip
async def test_a_malformed_rule_request_is_422_in_one_line(
    api: Served, method: str, path: str, body: dict[str, object], detail: str
) -> None:
    answer = await api.client.request(method, path, json=body, headers=api.as_role("admin"))
    assert (answer.status_code, answer.json()) == (422, {"detail": detail})
