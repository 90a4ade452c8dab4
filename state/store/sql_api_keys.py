"""The SQL of the REST server's API keys, shared by both durable stores (`state.api_keys` says what a key is).

Like `sql_store`, written once with `?` placeholders; an engine supplies the connection and the writers'
turns. A key and its audit entry are written in one transaction: no key exists without who made it, and
no revocation without who and why.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from state.api_keys import ApiKey
from state.store.base import AuditEntry, RecordNotFoundError, StoreConflictError
from state.store.rows import parse, ts
from state.store.sql_parts import SqlPart


def _key(row: tuple[Any, ...]) -> ApiKey:
    return parse("api key", str(row[0]), ApiKey.model_validate_json, row[1])


class SqlApiKeys(SqlPart):
    async def save_api_key(self, key: ApiKey, audit: AuditEntry) -> None:
        async with self._use(transaction=True) as db:
            await self._take_turn(db, "api_keys")
            held = await db.fetch_one("SELECT key_id FROM api_keys WHERE key_id = ?", (key.key_id,))
            if held is not None:
                raise StoreConflictError(f"api key {key.key_id} exists already")
            revoked = ts(key.revoked_at) if key.revoked_at is not None else None
            await db.execute(
                "INSERT INTO api_keys (key_id, role, created_at, revoked_at, record) VALUES (?, ?, ?, ?, ?)",
                (key.key_id, str(key.role), ts(key.created_at), revoked, key.model_dump_json()),
            )
            await self._insert_audit(db, (audit,), key.created_at)

    async def api_key(self, key_id: str) -> ApiKey | None:
        async with self._use() as db:
            row = await db.fetch_one("SELECT key_id, record FROM api_keys WHERE key_id = ?", (key_id,))
        return None if row is None else _key(row)

    async def api_keys(self) -> list[ApiKey]:
        async with self._use() as db:
            rows = await db.fetch_all("SELECT key_id, record FROM api_keys ORDER BY created_at, key_id")
        return [_key(row) for row in rows]

    async def revoke_api_key(self, key_id: str, by: str, reason: str, at: datetime, audit: AuditEntry) -> ApiKey:
        async with self._use(transaction=True) as db:
            await self._take_turn(db, "api_keys")
            row = await db.fetch_one("SELECT key_id, record FROM api_keys WHERE key_id = ?", (key_id,))
            if row is None:
                raise RecordNotFoundError(f"no api key {key_id}")
            held = _key(row)
            if not held.active:
                return held  # revoking twice changes nothing
            revoked = held.model_copy(update={"revoked_at": at, "revoked_by": by, "revoke_reason": reason})
            await db.execute(
                "UPDATE api_keys SET revoked_at = ?, record = ? WHERE key_id = ?",
                (ts(at), revoked.model_dump_json(), key_id),
            )
            await self._insert_audit(db, (audit,), at)
        return revoked
