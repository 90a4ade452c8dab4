"""Who is calling: the identity and role the server established for a request, from a key or a token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from state.access import Access


@dataclass(frozen=True, slots=True)
class Principal:
    name: str  # the key's name or the token's subject
    role: Access
    via: Literal["key", "jwt"]
    key_id: str | None = None  # the key's public id (never the key)

    @property
    def actor(self) -> str:
        """How the audit log names this caller: `key:<name>#<key_id>` or `jwt:<subject>`."""
        return f"key:{self.name}#{self.key_id}" if self.via == "key" else f"jwt:{self.name}"

    @property
    def bucket(self) -> str:
        """The rate-limit bucket of this caller."""
        return f"key:{self.key_id}" if self.key_id else f"jwt:{self.name}"
