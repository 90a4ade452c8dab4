"""The log channel: an alert written to the process log (logger "aegis.alerts").

This module owns the channel every deployment has, the embedded default included: with no external
channel configured, the log is where an alert is seen. It must never fail a delivery: logging does not raise.
"""

from __future__ import annotations

import logging

from state.alerts import Alert, AlertLevel
from tools.notify.base import alert_text

__all__ = ["ALERT_LOGGER", "LogChannel"]

ALERT_LOGGER = "aegis.alerts"

_LOG_LEVELS = {
    AlertLevel.INFO: logging.INFO,
    AlertLevel.WARNING: logging.WARNING,
    AlertLevel.CRITICAL: logging.CRITICAL,
    AlertLevel.EMERGENCY: logging.CRITICAL,
}


class LogChannel:
    """Writes alerts to a logger at the matching level. The logger is the address: the target is not used."""

    name = "log"

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or logging.getLogger(ALERT_LOGGER)

    async def send(self, alert: Alert, target: str) -> None:
        self._logger.log(_LOG_LEVELS[alert.level], "%s", alert_text(alert))
