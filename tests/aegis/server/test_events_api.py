"""Events and decisions over REST: an event submitted (trade) is decided and read back by its id, as an event
and as a decision in full; an invalid one is 422 and kept as a dead letter; the listing's filters; the status
read with the read role. The role of each route (403 below it, 401 without a key) is in test_routes_api."""

from __future__ import annotations

from state.events import Bar
from tests.aegis.server.conftest import ServeFactory
from tests.conftest import SYMBOL, bundled_bars, signal


async def test_a_submitted_event_is_decided_and_read_back_as_event_and_decision(served: ServeFactory) -> None:
    api = await served()
    answer = await api.client.post(
        "/api/events", json=signal("sig-a", bundled_bars()[200]), headers=api.as_role("trade")
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "decided" and body["event_id"] == "sig-a"
    stored = await api.pipeline.services.store.get_decision("sig-a")
    assert stored is not None and body["decision"]["outcome"] == str(stored.outcome)

    event = await api.client.get("/api/events/sig-a", headers=api.as_role("read"))
    assert event.status_code == 200
    assert event.json()["status"] == "decided"
    assert event.json()["decision"] == body["decision"]
    decision = await api.client.get("/api/decisions/sig-a", headers=api.as_role("read"))
    assert decision.status_code == 200
    full = decision.json()
    assert full == stored.model_dump(mode="json")
    assert {"stages", "llm_usage", "guard_changes", "order", "context_hash"} <= set(full)


async def test_an_invalid_event_is_422_naming_the_field_and_kept_as_a_dead_letter(served: ServeFactory) -> None:
    api = await served()
    bad = {**signal("sig-bad", bundled_bars()[200]), "symbols": []}
    answer = await api.client.post("/api/events", json=bad, headers=api.as_role("trade"))
    assert answer.status_code == 422, answer.text
    assert answer.json()["event_id"] == "sig-bad"
    assert "symbols" in answer.json()["detail"]
    stored = await api.pipeline.services.store.get_decision("sig-bad")
    assert stored is not None and str(stored.outcome) == "rejected"


async def test_an_event_or_decision_never_seen_is_404(served: ServeFactory) -> None:
    api = await served()
    for path in ("/api/events/nope", "/api/decisions/nope"):
        answer = await api.client.get(path, headers=api.as_role("read"))
        assert answer.status_code == 404, path
        assert "nope" in answer.json()["detail"]


async def test_decisions_are_listed_with_filters(served: ServeFactory) -> None:
    api = await served()
    bar = bundled_bars()[200]  # one instant: the simulated clock does not move
    for n in range(3):
        answer = await api.client.post("/api/events", json=signal(f"sig-{n}", bar), headers=api.as_role("trade"))
        assert answer.status_code == 200, answer.text
    read = api.as_role("read")
    listed = (await api.client.get("/api/decisions", headers=read)).json()
    assert {d["event_id"] for d in listed["decisions"]} >= {"sig-0", "sig-1", "sig-2"}
    outcome = listed["decisions"][0]["outcome"]
    same = (await api.client.get("/api/decisions", params={"outcome": outcome}, headers=read)).json()
    assert same["decisions"] and {d["outcome"] for d in same["decisions"]} == {outcome}
    typed = (await api.client.get("/api/decisions", params={"event_type": "signal_generated", "limit": 2},
                                  headers=read)).json()  # fmt: skip
    assert len(typed["decisions"]) == 2 and {d["event_type"] for d in typed["decisions"]} == {"SIGNAL_GENERATED"}
    assert typed["matched"] == 3
    other = (await api.client.get("/api/decisions", params={"symbol": "ZZZZ"}, headers=read)).json()
    assert other["decisions"] == [] and other["matched"] == 0


async def test_a_malformed_decision_filter_is_422_in_one_line(served: ServeFactory) -> None:
    api = await served()
    for params in ({"since": "2024-01-02T15:00:00"}, {"limit": 0}, {"outcome": "maybe"}):
        answer = await api.client.get("/api/decisions", params=params, headers=api.as_role("read"))
        assert answer.status_code == 422, params
        detail = answer.json()["detail"]
        assert detail.startswith("invalid request: ") and "\n" not in detail, detail


async def test_the_status_is_read_with_the_read_role(served: ServeFactory) -> None:
    api = await served()
    answer = await api.client.get("/api/status", headers=api.as_role("read"))
    assert answer.status_code == 200
    body = answer.json()
    assert body["trading"]["account"]["state"] == "active"
    assert {"posture", "tier", "open_orders", "limits", "alerts"} <= set(body)


def _tick(event_id: str, bar: Bar, symbol: str = SYMBOL) -> dict[str, object]:
    return {"id": event_id, "type": "MARKET_TICK", "source": "test", "symbols": [symbol],
            "event_time": bar.time.isoformat(), "payload": {"bar": bar.model_dump(mode="json")}}  # fmt: skip


async def test_a_posted_tick_is_applied_to_the_market_not_deliberated(served: ServeFactory) -> None:
    api = await served()
    trade, hot = api.as_role("trade"), api.pipeline.services.hot
    bars = bundled_bars()
    newest = (await hot.bars(SYMBOL))[-1]
    later = [bar for bar in bars if bar.time > newest.time][:2]
    for n, bar in enumerate(later):
        answer = await api.client.post("/api/events", json=_tick(f"tick-{n}", bar), headers=trade)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"event_id": f"tick-{n}", "status": "applied"}
        assert (await hot.bars(SYMBOL))[-1] == bar
        assert await api.pipeline.services.store.get_decision(f"tick-{n}") is None  # no session
    again = await api.client.post("/api/events", json=_tick("tick-again", later[-1]), headers=trade)
    assert again.status_code == 200  # the same bar again: a redelivery, already applied
    first = bars[0]  # long before the hot store's window: not a redelivery, and not after the last bar
    assert first not in await hot.bars(SYMBOL)
    older = await api.client.post("/api/events", json=_tick("tick-old", first), headers=trade)
    assert older.status_code == 422 and "tick refused" in older.json()["detail"]
    dead = [r["event_id"] for r in await api.pipeline.services.store.rejected_events()]
    assert "tick-old" in dead
