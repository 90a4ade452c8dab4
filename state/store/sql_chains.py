"""The SQL of correlation chains, shared by both durable stores: which chain a record belongs to, and every
record of one chain (what `aegis trace` shows).

A chain is named by its root event's id. Events, decisions, orders, fills and alerts carry it in their
`correlation_id` column (migration 0007); rows written before it hold NULL there and belong to the chain of
their own event id, so old records still trace (as chains of their event). Like `sql_store`, it is written
once with `?` placeholders; an engine supplies the connection.
"""

from __future__ import annotations

import json
from datetime import datetime

from state.alerts import Alert
from state.decisions import DecisionRecord
from state.store.base import ChainRecords, RecordedEvent
from state.store.rows import FILL_COLUMNS, fill_from, order_from_json, parse
from state.store.sql_parts import SqlPart

# The chain of a record, by its id: an event (or its decision), an order, a fill, an alert.
_CHAIN_OF = (
    "SELECT COALESCE(correlation_id, event_id) FROM events WHERE event_id = ? "
    "UNION ALL SELECT COALESCE(correlation_id, event_id) FROM decisions WHERE event_id = ? "
    "UNION ALL SELECT COALESCE(correlation_id, event_id) FROM orders WHERE order_id = ? "
    "UNION ALL SELECT COALESCE(correlation_id, event_id) FROM fills WHERE fill_id = ? "
    "UNION ALL SELECT COALESCE(correlation_id, alert_id) FROM alerts WHERE alert_id = ?"
)
_IN_CHAIN = "(correlation_id = ? OR (correlation_id IS NULL AND event_id = ?))"


class SqlChains(SqlPart):
    async def chain_of(self, record_id: str) -> str | None:
        async with self._use() as db:
            row = await db.fetch_one(_CHAIN_OF, (record_id,) * 5)
        return None if row is None else str(row[0])

    async def chain(self, chain_id: str) -> ChainRecords:
        both = (chain_id, chain_id)
        statements = [
            (f"SELECT event_id, event_type, received_at, raw FROM events WHERE {_IN_CHAIN} ORDER BY seq", both),
            (f"SELECT event_id, record FROM decisions WHERE {_IN_CHAIN} ORDER BY seq", both),
            (f"SELECT event_id, record FROM orders WHERE {_IN_CHAIN} ORDER BY created_at, order_id", both),
            (f"SELECT {FILL_COLUMNS} FROM fills WHERE {_IN_CHAIN} ORDER BY seq", both),
            ("SELECT alert_id, record FROM alerts WHERE correlation_id = ? ORDER BY seq", (chain_id,)),
        ]
        async with self._use() as db:
            events, decisions, orders, fills, alerts = await db.fetch_many(statements)
        return ChainRecords(
            chain_id=chain_id,
            events=tuple(parse("event", r[0], _recorded_event, r) for r in events),
            decisions=tuple(parse("decision", r[0], DecisionRecord.model_validate_json, r[1]) for r in decisions),
            orders=tuple(parse("order", r[0], order_from_json, r[1]) for r in orders),
            fills=tuple(parse("fill", r[0], fill_from, r) for r in fills),
            alerts=tuple(parse("alert", r[0], Alert.model_validate_json, r[1]) for r in alerts),
        )


def _recorded_event(row: tuple[object, ...]) -> RecordedEvent:
    raw = json.loads(str(row[3]))
    return RecordedEvent(
        event_id=str(row[0]),
        event_type=str(row[1]),
        received_at=datetime.fromisoformat(str(row[2])),
        raw=raw if isinstance(raw, dict) else {"value": raw},
    )
