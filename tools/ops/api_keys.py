"""The API-key control: the one writer of the REST server's keys (`aegis keys`, and the server's checks).

A key is made with a role (`state.access`) and a name; its whole text is returned once and only its hash is
stored (`state.api_keys`). Every creation and revocation is audited with who did it. `authenticate` is what
the server calls on every request carrying a key.

Decisions that must not be silently changed:
- A key that is unknown, malformed or revoked authenticates as nobody: the caller cannot tell which (one
  answer for all three, so a listing of ids cannot be probed).
- Authenticated keys are cached for `cache_s` (default 5 s) so a busy server does not read the store on every
  request; a revocation therefore takes effect on every server within that time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from state.access import Access
from state.api_keys import ApiKey, key_hash, key_id_of, matches, new_key
from state.clock import Clock
from state.store.base import AuditEntry, DurableStore


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key: its stored record and, this once, the whole key."""

    record: ApiKey
    key: str


@dataclass(slots=True)
class KeyControl:
    store: DurableStore
    clock: Clock
    cache_s: float = 5.0
    _seen: dict[str, tuple[float, ApiKey]] = field(default_factory=dict)

    async def create(self, name: str, role: Access | str, *, by: str) -> IssuedKey:
        key_id, key = new_key()
        record = ApiKey(
            key_id=key_id, name=name.strip(), role=Access(role), key_hash=key_hash(key),
            created_at=self.clock.now(), created_by=by,
        )  # fmt: skip
        audit = AuditEntry(actor=by, action="api_key.create", detail={"key_id": key_id, "name": record.name,
                                                                       "role": str(record.role)})  # fmt: skip
        await self.store.save_api_key(record, audit)
        return IssuedKey(record, key)

    async def keys(self) -> list[ApiKey]:
        return await self.store.api_keys()

    async def revoke(self, key_id: str, *, by: str, reason: str) -> ApiKey:
        audit = AuditEntry(actor=by, action="api_key.revoke", detail={"key_id": key_id, "reason": reason})
        revoked = await self.store.revoke_api_key(key_id, by, reason, self.clock.now(), audit)
        self._seen.pop(key_id, None)
        return revoked

    async def authenticate(self, key: str) -> ApiKey | None:
        """The active key record `key` is, or None (unknown, malformed and revoked alike)."""
        key_id = key_id_of(key)
        if key_id is None:
            return None
        now = time.monotonic()
        cached = self._seen.get(key_id)
        record = cached[1] if cached is not None and now - cached[0] < self.cache_s else None
        if record is None:
            record = await self.store.api_key(key_id)
            if record is None:
                return None
            self._seen[key_id] = (now, record)
        return record if record.active and matches(record, key) else None
