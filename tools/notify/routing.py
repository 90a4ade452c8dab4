"""Routing: which (channel, target) deliveries one alert produces at one escalation step.

This module owns the reading of the routing table (`NotifyConfig.routing`) against the contacts and the
channels that exist. It is pure: it sends nothing, reads no clock and never raises on a route it cannot
serve; it reports it.

Decisions that must not be silently changed:
- A contact-addressed route (`contact: phone`) reaches every contact paged at the step
  (`escalation.contacts_paged`); a target-addressed route (Slack "#urgent") reaches its target at any step.
- A route over a channel that is not configured, or to a contact without that address, is skipped and
  reported in the plan, never an error: the other routes still go out.
- Every alert also goes to the log channel, when there is one: the log is the record of last resort and the
  only channel of the embedded default.
- The same (channel, target) reached by two routes is sent once per route's `repeat`, not twice over.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from state.alerts import Alert
from tools.notify.config import NotifyConfig, Route
from tools.notify.escalation import contacts_paged
from tools.notify.log import ALERT_LOGGER

__all__ = ["DeliveryPlan", "PlannedDelivery", "SkippedRoute", "plan_deliveries"]

_LOG_CHANNEL = "log"


@dataclass(frozen=True)
class PlannedDelivery:
    """One message to send: over `channel` to `target`. A route repeated three times plans three of these."""

    channel: str
    target: str


@dataclass(frozen=True)
class SkippedRoute:
    """A route (or one contact of it) that could not be served, and why."""

    route: Route
    reason: str


@dataclass(frozen=True)
class DeliveryPlan:
    deliveries: tuple[PlannedDelivery, ...]
    skipped: tuple[SkippedRoute, ...]


def plan_deliveries(alert: Alert, step: int, config: NotifyConfig, available: Collection[str]) -> DeliveryPlan:
    """The deliveries of `alert` at escalation `step`, over the channels named in `available`."""
    paged = contacts_paged(config.contacts, step, config.escalation.final_step)
    deliveries: list[PlannedDelivery] = []
    skipped: list[SkippedRoute] = []
    seen: set[PlannedDelivery] = set()
    if _LOG_CHANNEL in available:
        log_line = PlannedDelivery(_LOG_CHANNEL, ALERT_LOGGER)
        deliveries.append(log_line)
        seen.add(log_line)
    for route in config.routing.routes_for(alert.level):
        if route.channel not in available:
            skipped.append(SkippedRoute(route, f"channel {route.channel!r} is not configured"))
            continue
        targets: list[str] = []
        if route.target is not None:
            targets.append(route.target)
        elif route.contact is not None:
            if not paged:
                skipped.append(SkippedRoute(route, "no contacts are configured"))
            for contact in paged:
                address = contact.address(route.contact)
                if address:
                    targets.append(address)
                else:
                    skipped.append(SkippedRoute(route, f"contact {contact.name!r} has no {route.contact}"))
        for target in targets:
            planned = PlannedDelivery(route.channel, target)
            if planned not in seen:
                seen.add(planned)
                deliveries.extend([planned] * route.repeat)
    return DeliveryPlan(deliveries=tuple(deliveries), skipped=tuple(skipped))
