"""Who may do what: the three access roles of an operator (read < trade < admin).

A role allows everything a lower role allows. The workflow's gatekeeper, the approvals and (later) the REST
API check a requester's role against what an operation needs; nothing else grants authority.
"""

from __future__ import annotations

from enum import StrEnum


class Access(StrEnum):
    READ = "read"  # look: decisions, positions, P&L, alerts, analyses, backtests
    TRADE = "trade"  # act within the limits: stop a bot, cancel orders, halt, tighten a limit, rebalance
    ADMIN = "admin"  # loosen: resume trading after a halt, loosen a risk limit

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Access) -> bool:
        """Whether this role may do what `needed` is required for."""
        return self.rank >= needed.rank


_RANKS = {Access.READ: 0, Access.TRADE: 1, Access.ADMIN: 2}


class AccessDeniedError(PermissionError):
    """The caller's role does not allow what it asked for; the message names the role needed."""

    def __init__(self, what: str, role: Access, needed: Access) -> None:
        super().__init__(f"{what} needs the {needed} role; {role} does not allow it")
        self.role, self.needed = role, needed


def require(role: Access, needed: Access, what: str) -> None:
    """Raise `AccessDeniedError` unless `role` allows `needed`."""
    if not role.allows(needed):
        raise AccessDeniedError(what, role, needed)
