"""Reading alerts by the time they were raised, on SQLite and on PostgreSQL (the escalation sweep's read).

Every test runs on both engines through the fixtures of `test_store_contract`: skipped with the reason
without a server, failed when AEGIS_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

from datetime import timedelta, timezone

from state.alerts import Alert, AlertLevel
from tests.state import test_store_contract as contract
from tests.state.test_store_contract import T0, Store

engine = contract.engine
store = contract.store


def raised(alert_id: str, minutes: float) -> Alert:
    return Alert(
        alert_id=alert_id,
        dedup_key=alert_id,
        level=AlertLevel.WARNING,
        kind="drill",
        message="a drill",
        raised_at=T0 + timedelta(minutes=minutes),
    )


async def test_raised_since_keeps_the_alerts_raised_at_or_after_it_newest_first(store: Store) -> None:
    for alert_id, minutes in (("a", 0.0), ("b", 10.0), ("c", 10.5), ("d", 30.0)):
        await store.save_alert(raised(alert_id, minutes))
    acknowledged = await store.get_alert("d")
    assert acknowledged is not None
    await store.update_alert(acknowledged.model_copy(update={"acknowledged_at": T0 + timedelta(hours=1)}))

    since = T0 + timedelta(minutes=10)
    assert [a.alert_id for a in await store.alerts(raised_since=since)] == ["d", "c", "b"]
    assert [a.alert_id for a in await store.alerts(raised_since=since, unacknowledged_only=True)] == ["c", "b"]
    assert [a.alert_id for a in await store.alerts(raised_since=since, limit=1)] == ["d"]
    assert [a.alert_id for a in await store.alerts()] == ["d", "c", "b", "a"]
    # an offset other than UTC names the same instant
    east = (T0 + timedelta(minutes=10, seconds=1)).astimezone(timezone(timedelta(hours=9)))
    assert [a.alert_id for a in await store.alerts(raised_since=east)] == ["d", "c"]
