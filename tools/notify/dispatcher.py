"""The dispatcher: the one impure step of alerting. It sends an alert's planned deliveries, retries, records.

This module owns the delivery of alerts in the background: `dispatch` plans the deliveries
(`routing.plan_deliveries`), schedules one asyncio task per delivery and returns at once; each task tries its
channel, waits between attempts as the retry policy says, and records every attempt through a
`DeliveryRecorder`. `drain` waits for what is still outstanding (shutdown, tests).

Decisions that must not be silently changed:
- Alerting never blocks and never raises into the caller: trading goes on whatever a receiver does.
  A failed delivery, a failing recorder, a channel that raises something unexpected are logged, not raised.
- `ChannelUnavailableError` is retried up to `retry.attempts` in all; `ChannelRejectedError`, and any other
  error of an adapter, ends the delivery at once. Every attempt, failed or not, is recorded.
- Recorded and logged errors are the adapters' `NotifyError` messages, which carry no secret; of any other
  exception only the type is kept, since its message was never vetted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from state.alerts import Alert, Delivery
from state.clock import Clock, WallClock
from tools.notify.base import Channel, ChannelUnavailableError, NotifyError
from tools.notify.config import NotifyConfig
from tools.notify.routing import DeliveryPlan, PlannedDelivery, plan_deliveries

__all__ = ["AlertDispatcher", "DeliveryRecorder", "Sleep"]

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


class DeliveryRecorder(Protocol):
    """Where delivery attempts are kept (the durable store in a run, a list in a test)."""

    async def record_delivery(self, delivery: Delivery) -> None: ...


class AlertDispatcher:
    """Sends alerts over `channels` (keyed by channel name) as `config` routes them, in the background."""

    def __init__(
        self,
        channels: Mapping[str, Channel],
        config: NotifyConfig,
        recorder: DeliveryRecorder,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Clock | None = None,
    ) -> None:
        self._channels = dict(channels)
        self._config = config
        self._recorder = recorder
        self._sleep = sleep
        self._clock = clock or WallClock()
        self._outstanding: set[asyncio.Task[None]] = set()

    @property
    def outstanding(self) -> int:
        """Deliveries scheduled and not finished yet."""
        return len(self._outstanding)

    def dispatch(self, alert: Alert, step: int | None = None) -> DeliveryPlan:
        """Schedule the deliveries of `alert` at escalation `step` (default: the alert's own) and return at once.

        Returns the plan: what was scheduled and which routes were skipped. Must be called from a running
        event loop; never raises.
        """
        step = alert.escalation_step if step is None else step
        try:
            loop = asyncio.get_running_loop()
            plan = plan_deliveries(alert, step, self._config, self._channels.keys())
            for skipped in plan.skipped:  # a channel left unconfigured is a choice; a contact without an address is not
                configured = skipped.route.channel in self._channels
                logger.log(
                    logging.WARNING if configured else logging.DEBUG,
                    "alert %s: route over %s skipped: %s",
                    alert.alert_id,
                    skipped.route.channel,
                    skipped.reason,
                )
            for planned in plan.deliveries:
                task = loop.create_task(self._deliver(alert, planned), name=f"alert {alert.alert_id} {planned.channel}")
                self._outstanding.add(task)
                task.add_done_callback(self._outstanding.discard)
        except Exception:  # the caller is trading: an alerting fault must not become its fault
            logger.exception("alert %s could not be dispatched", alert.alert_id)
            return DeliveryPlan(deliveries=(), skipped=())
        return plan

    async def drain(self, timeout_s: float | None = None) -> int:
        """Wait until no delivery is outstanding (also those scheduled meanwhile); return how many were abandoned.

        With `timeout_s`, deliveries still running then are cancelled (and logged): shutdown stays bounded.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        while self._outstanding:
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            _, running = await asyncio.wait(set(self._outstanding), timeout=remaining)
            if running and deadline is not None and loop.time() >= deadline:
                for task in running:
                    task.cancel()
                await asyncio.gather(*running, return_exceptions=True)
                logger.error("%d alert deliveries abandoned after %s s", len(running), timeout_s)
                return len(running)
        return 0

    async def _deliver(self, alert: Alert, planned: PlannedDelivery) -> None:
        try:
            await self._deliver_with_retries(alert, planned)
        except Exception:  # a bug here must not surface as an unretrieved task exception in the trading loop
            logger.exception("delivery of alert %s over %s failed unexpectedly", alert.alert_id, planned.channel)

    async def _deliver_with_retries(self, alert: Alert, planned: PlannedDelivery) -> None:
        channel = self._channels[planned.channel]
        policy = self._config.retry
        for attempt in range(1, policy.attempts + 1):
            error, retryable = await _attempt(channel, alert, planned.target)
            await self._record(
                Delivery(
                    alert_id=alert.alert_id,
                    channel=planned.channel,
                    target=planned.target,
                    attempt=attempt,
                    ok=error is None,
                    error=error,
                    at=self._clock.now(),
                )
            )
            if error is None:
                return
            if not retryable or attempt == policy.attempts:
                logger.error(
                    "alert %s not delivered over %s to %s after %d attempt(s): %s",
                    alert.alert_id,
                    planned.channel,
                    planned.target,
                    attempt,
                    error,
                )
                return
            delay_s = policy.delay_s(attempt)
            logger.warning(
                "alert %s over %s to %s, attempt %d failed (%s); retrying in %g s",
                alert.alert_id,
                planned.channel,
                planned.target,
                attempt,
                error,
                delay_s,
            )
            await self._sleep(delay_s)

    async def _record(self, delivery: Delivery) -> None:
        try:
            await self._recorder.record_delivery(delivery)
        except Exception as exc:  # a lost record must not stop the delivery, nor reach the caller
            logger.error("recording a delivery of alert %s failed: %r", delivery.alert_id, exc)


async def _attempt(channel: Channel, alert: Alert, target: str) -> tuple[str | None, bool]:
    """Send once; return (error or None, whether a retry may help)."""
    try:
        await channel.send(alert, target)
    except ChannelUnavailableError as exc:
        return str(exc), True
    except NotifyError as exc:
        return str(exc), False
    except Exception as exc:  # an adapter's bug: its message may hold anything, keep only the type
        return f"{type(exc).__name__} raised by the {channel.name} channel", False
    return None, False
