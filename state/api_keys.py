"""API keys of the REST server: what is stored of a key (never the key itself) and how a presented key is
checked against it.

A key is `aegis_<key_id>_<secret>`: `key_id` (12 hex characters) names the stored record and may appear in
listings and logs; the secret (32 random bytes, URL-safe) is shown once, when the key is made, and only its
SHA-256 is kept. A fast hash is the right one here: the secret has 256 bits of entropy, so there is nothing
to guess, and a check costs microseconds on every request (a password hash would cost 50-100 ms each).

No I/O here. Decisions that must not be silently changed:
- A presented key is compared with `hmac.compare_digest` on the hashes, so timing tells nothing.
- A revoked key stays stored (who made it, who revoked it, when), and never authenticates again.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from state.access import Access

KEY_PREFIX = "aegis_"
_KEY = re.compile(r"^aegis_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


class ApiKey(BaseModel):
    """The stored record of one API key: its public id, a name for people, its role, the secret's hash."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_id: str = Field(pattern=r"^[0-9a-f]{12}$", description="The key's public part, in listings and logs")
    name: str = Field(min_length=1, max_length=128, description="Whose or what for, e.g. 'grafana' or 'desk-lead'")
    role: Access
    key_hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the whole key, hex")
    created_at: AwareDatetime
    created_by: str = Field(min_length=1)
    revoked_at: AwareDatetime | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    """(key_id, the whole key) for a new API key; the key is shown once and stored only as its hash."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    while len(secret) != 43:  # token_urlsafe(32) is 43 characters; kept explicit for the pattern above
        secret = secrets.token_urlsafe(32)
    return key_id, f"{KEY_PREFIX}{key_id}_{secret}"


def key_id_of(key: str) -> str | None:
    """The key id a presented key names, or None when it is not shaped like an AEGIS key."""
    found = _KEY.match(key)
    return found.group(1) if found else None


def matches(record: ApiKey, key: str) -> bool:
    """Whether `key` is the key `record` was made for (constant-time on the hashes)."""
    return hmac.compare_digest(record.key_hash, key_hash(key))
