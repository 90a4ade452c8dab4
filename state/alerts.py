"""Alerts: what the system tells a person, as it is persisted, delivered, escalated and acknowledged.

This module owns the alert record and its levels (AEGIS v3.1 section 6.2). Raising an alert, delivering it
over channels and escalating it live in `aegis.runtime.alerting` and `tools.notify`; this module holds
no I/O.

Decisions that must not be silently changed:
- An alert's `dedup_key` names the condition: while an alert with the same key is unacknowledged, the
  condition raising again adds nothing new (no second page for the same fault).
- Levels are ordered: INFO < WARNING < CRITICAL < EMERGENCY.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from state.events import Cause


class AlertLevel(StrEnum):
    INFO = "info"  # posture change, 80 % of the daily P&L target
    WARNING = "warning"  # a stage SLA missed twice in a row, one position down 2 %
    CRITICAL = "critical"  # three system errors in a row, the loss-per-minute limit, failure tiers
    EMERGENCY = "emergency"  # capital down 5 % from the day's start, a data-integrity breach: halt

    @property
    def rank(self) -> int:
        return list(AlertLevel).index(self)


class Alert(BaseModel):
    """One alert. `kind` names the condition (e.g. "loss_per_minute"); `detail` carries its figures."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alert_id: str = Field(min_length=1)
    dedup_key: str = Field(min_length=1)
    level: AlertLevel
    kind: str = Field(min_length=1)
    message: str
    detail: dict[str, Any] = Field(default_factory=dict)
    raised_at: AwareDatetime
    acknowledged_at: AwareDatetime | None = None
    acknowledged_by: str | None = None
    escalation_step: int = Field(0, ge=0)  # 0: first contact paged; 1, 2: second, third; 3: everyone
    correlation_id: str | None = None  # the chain of what raised it (None: no single cause)
    causation_id: str | None = None  # the record that raised it: an event, a fill

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None


class Delivery(BaseModel):
    """One attempt to deliver an alert over one channel to one target."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alert_id: str
    channel: str  # "slack", "telegram", "email", "sms", "voice", "log", ...
    target: str  # the address, chat, phone number or webhook channel
    attempt: int = Field(ge=1)
    ok: bool
    error: str | None = None
    at: datetime


class RaiseAlert(Protocol):
    """`aegis.runtime.alerting.Alerting.raise_alert`, as the flows and the controls see it."""

    def __call__(
        self,
        level: AlertLevel,
        kind: str,
        message: str,
        *,
        dedup_key: str | None = None,
        detail: Mapping[str, Any] | None = None,
        cause: Cause | None = None,
    ) -> Awaitable[Any]: ...
