"""Raising, delivering, escalating and acknowledging alerts: the runtime around `tools.notify`.

`Alerting.raise_alert` persists an alert (deduplicated by its key while unacknowledged), hands it to the
dispatcher (which delivers in the background) and to the live view's listener; `escalate` pages the next
contacts of unacknowledged alerts as the escalation minutes say; `acknowledge` stops the paging.

Decisions that must not be silently changed:
- Alerts never block trading: the store write is the only awaited step; delivery runs in the background
  and a failed channel is recorded as a failed delivery.
- A condition that raises again while its alert is unacknowledged pages nobody again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from aegis.runtime.recheck import Recheck
from state.alerts import Alert, AlertLevel, Delivery
from state.clock import Clock
from state.events import Cause
from state.store.base import DurableStore
from tools.notify import AlertDispatcher, NotifyConfig, build_channels, escalations_due
from tools.notify.escalation import next_escalation

log = logging.getLogger("aegis.alerts")

Listener = Callable[[Alert], None]
DeliveryListener = Callable[[Delivery], None]


class _HeardRecorder:
    """The store as the dispatcher's recorder, telling the delivery listeners of each attempt once recorded."""

    def __init__(self, store: DurableStore, listeners: list[DeliveryListener]) -> None:
        self._store = store
        self._listeners = listeners

    async def record_delivery(self, delivery: Delivery) -> None:
        await self._store.record_delivery(delivery)
        for listener in self._listeners:
            listener(delivery)


class Alerting:
    def __init__(
        self,
        store: DurableStore,
        clock: Clock,
        config: NotifyConfig,
        dispatcher: AlertDispatcher | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._config = config
        self._delivery_listeners: list[DeliveryListener] = []
        recorder = _HeardRecorder(store, self._delivery_listeners)
        self._dispatcher = dispatcher or AlertDispatcher(build_channels(config), config, recorder, clock=clock)
        self._listeners: list[Listener] = []
        # The open alerts are read again when one can escalate, after one was raised here, or after a moment
        # of wall time (alerts raised by other processes on the same records).
        self._recheck = Recheck()
        self._raised = 0  # alerts raised by this process: the recheck's revision
        # Alerts raised before this time were at their last step after the last complete read (None: none
        # yet), so a read need not parse them again: the open alerts of a long run are read in bounded time.
        self._settled_before: datetime | None = None

    def listen(self, listener: Listener) -> None:
        """Call `listener` with every new alert (the live view)."""
        self._listeners.append(listener)

    def listen_deliveries(self, listener: DeliveryListener) -> None:
        """Call `listener` with every delivery attempt, once recorded (the metrics; not with a dispatcher
        passed in, which has a recorder of its own)."""
        self._delivery_listeners.append(listener)

    async def raise_alert(
        self,
        level: AlertLevel,
        kind: str,
        message: str,
        *,
        dedup_key: str | None = None,
        detail: Mapping[str, Any] | None = None,
        cause: Cause | None = None,
    ) -> tuple[Alert, bool]:
        """Persist and deliver an alert; (the alert held, whether it is new). A repeat of an unacknowledged
        condition (same dedup key, `kind` by default) returns the alert already raised and pages nobody.
        `cause`: the record that raised it (an event, a fill) and its chain, so `aegis trace` shows it."""
        now = self._clock.now()
        alert = Alert(
            alert_id=f"alert-{uuid.uuid4().hex[:12]}",
            dedup_key=dedup_key or kind,
            level=level,
            kind=kind,
            message=message,
            detail=dict(detail or {}),
            raised_at=now,
            correlation_id=cause.correlation_id if cause is not None else None,
            causation_id=cause.causation_id if cause is not None else None,
        )
        held, new = await self._store.save_alert(alert)
        if not new:
            return held, False
        self._raised += 1  # its first escalation may come sooner than the others'
        log.log(_LOG_LEVELS[level], "%s alert %s: %s", level.upper(), kind, message)
        self._dispatcher.dispatch(held, 0)
        for listener in self._listeners:
            listener(held)
        return held, True

    async def escalate(self) -> list[Alert]:
        """Page the next contacts of every unacknowledged alert that is due; returns the alerts escalated."""
        now, minutes = self._clock.now(), self._config.escalation.minutes
        if not self._recheck.needed(now, self._raised):
            return []  # nothing read last time can escalate yet, and nothing was raised here since
        raised = self._raised
        open_alerts = await self._store.alerts(unacknowledged_only=True, limit=1000, raised_since=self._settled_before)
        escalated = []
        for due in escalations_due(open_alerts, now, minutes):
            alert = due.alert.model_copy(update={"escalation_step": due.step})
            await self._store.update_alert(alert)
            self._dispatcher.dispatch(alert, due.step)
            log.warning("alert %s escalated to step %d", alert.alert_id, due.step)
            escalated.append(alert)
        # Every alert read is now at the step it has reached at `now`; those raised before the last threshold
        # counted back from `now` are at their last one. (An alert another process stores later than that
        # with an older raise time would be missed: processes store an alert as they raise it.)
        self._settled_before = now - timedelta(minutes=max(minutes, default=0.0))
        self._recheck.read(next_escalation(open_alerts, now, minutes), raised)
        return escalated

    async def acknowledge(self, alert_id: str, by: str) -> Alert:
        """Acknowledge an alert (idempotent); `KeyError` for an unknown id."""
        alert = await self._store.get_alert(alert_id)
        if alert is None:
            raise KeyError(f"no alert {alert_id}")
        if alert.acknowledged:
            return alert
        acknowledged = alert.model_copy(update={"acknowledged_at": self._clock.now(), "acknowledged_by": by})
        await self._store.update_alert(acknowledged)
        await self._store.audit(by, "alert_acknowledged", {"alert_id": alert_id}, self._clock.now())
        return acknowledged

    async def drain(self, timeout_s: float | None = 10.0) -> None:
        """Wait for outstanding deliveries (at shutdown)."""
        await self._dispatcher.drain(timeout_s=timeout_s)


_LOG_LEVELS = {
    AlertLevel.INFO: logging.INFO,
    AlertLevel.WARNING: logging.WARNING,
    AlertLevel.CRITICAL: logging.ERROR,
    AlertLevel.EMERGENCY: logging.CRITICAL,
}
