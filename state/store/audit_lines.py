"""One log line per audit entry, written once its transaction has committed: the audit trail in the log.

Every control (trading state, bots, rules, posture, limits, approvals, alerts, the broker's cancellations)
audits through the store, and every store writes its audit entries through `SqlStore._insert_audit` (and,
on PostgreSQL, the one-round-trip session end): this is the one place that also logs them, so no control
logs its own. The line goes to the `aegis.audit` logger with category "audit", the actor, the action and
the entry's detail; the log's configuration adds the session's ids and redacts it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from state.store.base import AuditEntry

AUDIT_LOGGER = "aegis.audit"
_log = logging.getLogger(AUDIT_LOGGER)


def log_audit(entries: Sequence[AuditEntry]) -> None:
    for entry in entries:
        _log.info(
            "%s by %s",
            entry.action,
            entry.actor,
            extra={"category": "audit", "actor": entry.actor, "action": entry.action, "detail": dict(entry.detail)},
        )
