"""The SQL of the operator's controls, shared by both durable stores: trading states and alerts.

This module owns the stored form of the trading states (one row per scope, replaced by each transition,
audited in the same transaction) and of alerts and their delivery attempts. Like `sql_store`, it is
written once with `?` placeholders; an engine supplies the connection and the writers' turns.

Decisions that must not be silently changed:
- A trading-state transition and its audit entry are one transaction: no state without its who and why.
- At most one unacknowledged alert per dedup key: the check and the insert run in one transaction under
  the alerts table's writer turn, so two raisers of the same condition get the same alert back.
"""

from __future__ import annotations

from datetime import datetime

from state.alerts import Alert, Delivery
from state.store.base import AuditEntry, RecordNotFoundError
from state.store.rows import parse, ts
from state.store.sql_parts import SqlPart
from state.trading import TradingStatus


def _next_seq(table: str) -> str:
    return f"(SELECT COALESCE(MAX(seq), 0) + 1 FROM {table})"


class SqlControls(SqlPart):
    # ---- trading states ------------------------------------------------------------------------------

    async def trading_states(self) -> list[TradingStatus]:
        async with self._use() as db:
            rows = await db.fetch_all("SELECT scope, record FROM trading_states ORDER BY scope")
        return [parse("trading state", r[0], TradingStatus.model_validate_json, r[1]) for r in rows]

    async def set_trading_state(self, status: TradingStatus, audit: AuditEntry) -> None:
        row = (status.scope, status.state.value, status.model_dump_json(), ts(status.since))
        async with self._use(transaction=True) as db:
            await db.execute(
                "INSERT INTO trading_states (scope, state, record, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (scope) DO UPDATE SET state = excluded.state, record = excluded.record, "
                "updated_at = excluded.updated_at",
                row,
            )
            await self._insert_audit(db, (audit,), status.since)

    # ---- alerts --------------------------------------------------------------------------------------

    async def save_alert(self, alert: Alert) -> tuple[Alert, bool]:
        """Insert `alert` unless an unacknowledged alert with its dedup key exists: then that one.
        Returns the alert held and whether it is new."""
        async with self._use(transaction=True) as db:
            await self._take_turn(db, "alerts")
            held = await db.fetch_one(
                "SELECT alert_id, record FROM alerts WHERE dedup_key = ? AND acknowledged_at IS NULL "
                "ORDER BY seq DESC LIMIT 1",
                (alert.dedup_key,),
            )
            if held is not None:
                return parse("alert", held[0], Alert.model_validate_json, held[1]), False
            row = (alert.alert_id, alert.dedup_key, alert.level.value, ts(alert.raised_at), alert.model_dump_json())
            await db.execute(
                "INSERT INTO alerts (alert_id, seq, dedup_key, level, raised_at, acknowledged_at, record, "
                f"correlation_id) VALUES (?, {_next_seq('alerts')}, ?, ?, ?, NULL, ?, ?)",
                (*row, alert.correlation_id),
            )
        return alert, True

    async def alerts(
        self, *, unacknowledged_only: bool = False, limit: int = 100, raised_since: datetime | None = None
    ) -> list[Alert]:
        """Alerts newest first."""
        conditions = ["acknowledged_at IS NULL"] if unacknowledged_only else []
        parameters: list[object] = []
        if raised_since is not None:
            conditions.append("raised_at >= ?")  # the stored form (`ts`) orders as the times do
            parameters.append(ts(raised_since))
        where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
        async with self._use() as db:
            rows = await db.fetch_all(
                f"SELECT alert_id, record FROM alerts {where}ORDER BY seq DESC LIMIT ?", (*parameters, limit)
            )
        return [parse("alert", r[0], Alert.model_validate_json, r[1]) for r in rows]

    async def get_alert(self, alert_id: str) -> Alert | None:
        async with self._use() as db:
            row = await db.fetch_one("SELECT alert_id, record FROM alerts WHERE alert_id = ?", (alert_id,))
        return None if row is None else parse("alert", row[0], Alert.model_validate_json, row[1])

    async def update_alert(self, alert: Alert) -> None:
        """Replace a stored alert (its acknowledgement, its escalation step)."""
        acknowledged = ts(alert.acknowledged_at) if alert.acknowledged_at is not None else None
        async with self._use(transaction=True) as db:
            changed = await db.execute(
                "UPDATE alerts SET acknowledged_at = ?, record = ? WHERE alert_id = ?",
                (acknowledged, alert.model_dump_json(), alert.alert_id),
            )
        if changed != 1:
            raise RecordNotFoundError(f"no alert {alert.alert_id}")

    async def record_delivery(self, delivery: Delivery) -> None:
        async with self._use(transaction=True) as db:
            await self._take_turn(db, "alert_deliveries")
            await db.execute(
                "INSERT INTO alert_deliveries (seq, alert_id, channel, target, attempt, ok, error, at) "
                f"VALUES ({_next_seq('alert_deliveries')}, ?, ?, ?, ?, ?, ?, ?)",
                (
                    delivery.alert_id,
                    delivery.channel,
                    delivery.target,
                    delivery.attempt,
                    int(delivery.ok),
                    delivery.error,
                    ts(delivery.at),
                ),
            )

    async def deliveries(self, alert_id: str | None = None) -> list[Delivery]:
        """Delivery attempts in the order they were recorded (of one alert, or of all)."""
        where, params = ("WHERE alert_id = ? ", (alert_id,)) if alert_id is not None else ("", ())
        async with self._use() as db:
            rows = await db.fetch_all(
                f"SELECT alert_id, channel, target, attempt, ok, error, at FROM alert_deliveries {where}ORDER BY seq",
                params,
            )
        return [
            Delivery(
                alert_id=r[0],
                channel=r[1],
                target=r[2],
                attempt=int(r[3]),
                ok=bool(r[4]),
                error=r[5],
                at=datetime.fromisoformat(r[6]),
            )
            for r in rows
        ]
