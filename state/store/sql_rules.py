"""The SQL of the rules engine's rules, shared by both durable stores.

This module owns the stored form of a rule: its current record (one row per rule) and every version it had
(`rule_versions`, append-only), written with its audit entry in one transaction. Like `sql_store`, it is
written once with `?` placeholders; an engine supplies the connection.

Decisions that must not be silently changed:
- A rule's change is written only as the next version of the one stored (`expected` is checked in the
  transaction), so two operators changing one rule at once cannot both win: the second gets a conflict.
- Old versions are never rewritten: a recorded outcome's (rule id, version) always reads back.
"""

from __future__ import annotations

from datetime import datetime

from state.rules import Rule
from state.store.base import AuditEntry, StoreConflictError
from state.store.record_chain import stream_named
from state.store.rows import parse, ts
from state.store.sql_record_chain import SqlRecordChain


class SqlRules(SqlRecordChain):
    async def rules(self) -> list[Rule]:
        async with self._use() as db:
            rows = await db.fetch_all("SELECT rule_id, record FROM rules ORDER BY priority DESC, rule_id")
        return sorted((parse("rule", r[0], Rule.model_validate_json, r[1]) for r in rows),
                      key=lambda rule: (-rule.priority, rule.rule_id.encode()))  # fmt: skip

    async def rule_versions(self, rule_id: str) -> list[Rule]:
        async with self._use() as db:
            rows = await db.fetch_all(
                "SELECT version, record FROM rule_versions WHERE rule_id = ? ORDER BY version", (rule_id,)
            )
        return [parse("rule version", f"{rule_id}@{r[0]}", Rule.model_validate_json, r[1]) for r in rows]

    async def save_rule(self, rule: Rule, audit: AuditEntry, at: datetime) -> None:
        async with self._use(transaction=True) as db:
            await self._take_turn(db, "rules")
            held = await db.fetch_one("SELECT version FROM rules WHERE rule_id = ?", (rule.rule_id,))
            stored = int(held[0]) if held is not None else 0
            if rule.version != stored + 1:
                raise StoreConflictError(
                    f"rule {rule.rule_id}: version {rule.version} written over version {stored} "
                    "(changed meanwhile: read it again)"
                )
            record = rule.model_dump_json()
            await db.execute(
                "INSERT INTO rule_versions (rule_id, version, record, changed_at) VALUES (?, ?, ?, ?)",
                (rule.rule_id, rule.version, record, ts(at)),
            )
            await self._link(db, stream_named("rule_changes"), (rule.rule_id, rule.version))
            await db.execute(
                "INSERT INTO rules (rule_id, version, enabled, priority, event_type, record, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (rule_id) DO UPDATE SET version = excluded.version, "
                "enabled = excluded.enabled, priority = excluded.priority, event_type = excluded.event_type, "
                "record = excluded.record, updated_at = excluded.updated_at",
                (rule.rule_id, rule.version, int(rule.enabled), rule.priority, str(rule.event_type), record, ts(at)),
            )
            await self._insert_audit(db, (audit,), at)
