"""The SQL of the risk-limit control's changes, shared by both durable stores.

This module owns the stored form of a risk-limit change (`risk_limit_changes`, append-only, one row per
change, numbered per limit), written with its audit entry in one transaction. Like `sql_store`, it is written
once with `?` placeholders; an engine supplies the connection and the writers' turns.

Decisions that must not be silently changed:
- A change is written only as the next version of its limit (checked in the transaction, under the table's
  writer turn), so two operators changing one limit at once cannot both win: the second gets a conflict and
  reads the limit again. Without it, two tightenings could land as a loosening nobody was allowed to make.
- A change and its audit entry are one transaction: no limit changes without its who and why.
"""

from __future__ import annotations

from state.risk_limits import LimitChange
from state.store.base import AuditEntry, StoreConflictError
from state.store.rows import parse, ts
from state.store.sql_parts import SqlPart

_TABLE = "risk_limit_changes"


class SqlLimits(SqlPart):
    async def risk_limit_changes(self, name: str | None = None) -> list[LimitChange]:
        where, params = ("WHERE name = ? ", (name,)) if name is not None else ("", ())
        async with self._use() as db:
            rows = await db.fetch_all(f"SELECT name, version, record FROM {_TABLE} {where}ORDER BY seq", params)
        return [parse("risk-limit change", f"{r[0]}@{r[1]}", LimitChange.model_validate_json, r[2]) for r in rows]

    async def save_risk_limit_change(self, change: LimitChange, audit: AuditEntry) -> None:
        async with self._use(transaction=True) as db:
            await self._take_turn(db, _TABLE)
            held = await db.fetch_one(f"SELECT MAX(version) FROM {_TABLE} WHERE name = ?", (change.name,))
            stored = int(held[0]) if held is not None and held[0] is not None else 0
            if change.version != stored + 1:
                raise StoreConflictError(
                    f"risk limit {change.name}: change {change.version} written over change {stored} "
                    "(changed meanwhile: read it again)"
                )
            await db.execute(
                f"INSERT INTO {_TABLE} (name, version, seq, record, changed_at) "
                f"VALUES (?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM {_TABLE}), ?, ?)",
                (change.name, change.version, change.model_dump_json(), ts(change.at)),
            )
            await self._insert_audit(db, (audit,), change.at)
