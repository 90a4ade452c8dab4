"""Escalation: how far an unacknowledged alert has climbed, and who is paged at each step.

This module owns the escalation rule of AEGIS v3.1 section 6.3. It is pure: it reads no clock (the caller
passes `now`), sends nothing and changes no alert.

Decisions that must not be silently changed:
- Step 0 pages the first contact. Step k (1 <= k < final) is reached `minutes[k-1]` after the alert was
  raised and pages the first k+1 contacts; the final step (`len(minutes)`, 15 minutes by default) pages
  everyone. A step is reached *at* its minute, not after it (5:00 is step 1, 4:59 is step 0).
- An acknowledged alert never escalates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from state.alerts import Alert

__all__ = ["EscalationDue", "contacts_paged", "escalation_step", "escalations_due"]

ContactT = TypeVar("ContactT")


@dataclass(frozen=True)
class EscalationDue:
    """`alert` has climbed to `step`, above the step it was last paged at."""

    alert: Alert
    step: int


def escalation_step(raised_at: datetime, now: datetime, minutes: Sequence[float]) -> int:
    """The step an alert raised at `raised_at` and still unacknowledged has reached at `now`.

    `minutes` are the thresholds in minutes after `raised_at`, strictly increasing.
    """
    elapsed = now - raised_at
    return sum(1 for threshold in minutes if elapsed >= timedelta(minutes=threshold))


def escalations_due(alerts: Iterable[Alert], now: datetime, minutes: Sequence[float]) -> list[EscalationDue]:
    """The unacknowledged alerts whose step at `now` is higher than their `escalation_step`, in input order."""
    due: list[EscalationDue] = []
    for alert in alerts:
        if alert.acknowledged:
            continue
        step = escalation_step(alert.raised_at, now, minutes)
        if step > alert.escalation_step:
            due.append(EscalationDue(alert=alert, step=step))
    return due


def next_escalation(alerts: Iterable[Alert], now: datetime, minutes: Sequence[float]) -> datetime:
    """The earliest time after `now` at which one of the unacknowledged `alerts` reaches a step above the one it
    has at `now` (`datetime.max`, in UTC, when every one is at the last step): until then none can escalate."""
    soonest = datetime.max.replace(tzinfo=UTC)
    for alert in alerts:
        if alert.acknowledged:
            continue
        step = max(alert.escalation_step, escalation_step(alert.raised_at, now, minutes))
        if step < len(minutes):
            soonest = min(soonest, alert.raised_at + timedelta(minutes=minutes[step]))
    return soonest


def contacts_paged(contacts: Sequence[ContactT], step: int, final_step: int) -> tuple[ContactT, ...]:
    """The contacts paged at `step`: the first `step + 1` of them, or all of them from `final_step` on."""
    if step >= final_step:
        return tuple(contacts)
    return tuple(contacts[: max(step, 0) + 1])
