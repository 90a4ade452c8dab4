"""The SQL of the account's recent orders, shared by both durable stores: what RUNE's market-integrity check
and the workflow's review measure an order against.

"Recent" is by the last time an order changed: an order created, filled, expired or cancelled at or after a
moment (`Order.updated_at` is the time of its fill or close, `created_at` its placing), so a cancel of an
old order counts as recent. Migration 0009 indexes both times, so the read stays short however long the
order history grows. Like `sql_store`, it is written once with `?` placeholders; an engine supplies the
connection.
"""

from __future__ import annotations

from datetime import datetime

from state.orders import Order
from state.store.rows import order_from_json, parse, ts
from state.store.sql_parts import SqlPart


class SqlRecentOrders(SqlPart):
    _byte_order = ""  # how to make ORDER BY order_id compare bytes (PostgreSQL's store sets COLLATE "C")

    async def orders_since(self, at: datetime) -> list[Order]:
        since = ts(at)
        async with self._use() as db:
            rows = await db.fetch_all(
                "SELECT event_id, record FROM orders WHERE updated_at >= ? OR created_at >= ? "
                f"ORDER BY created_at, order_id{self._byte_order}",
                (since, since),
            )
        return [parse("order", r[0], order_from_json, r[1]) for r in rows]
