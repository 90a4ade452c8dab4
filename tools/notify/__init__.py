"""Alert channels behind one protocol, routing per level, escalation, and background delivery with retries.

The runtime builds the channels from the configuration and hands them to one dispatcher:

    channels = build_channels(config)
    dispatcher = AlertDispatcher(channels, config, recorder)
    dispatcher.dispatch(alert)            # returns at once; deliveries run in the background
    for due in escalations_due(open_alerts, clock.now(), config.escalation.minutes):
        dispatcher.dispatch(due.alert, due.step)
    await dispatcher.drain()              # at shutdown
"""

from tools.notify.base import Channel, ChannelRejectedError, ChannelUnavailableError, NotifyError
from tools.notify.config import NotifyConfig
from tools.notify.dispatcher import AlertDispatcher, DeliveryRecorder
from tools.notify.escalation import EscalationDue, escalation_step, escalations_due
from tools.notify.factory import build_channels
from tools.notify.routing import DeliveryPlan, PlannedDelivery, SkippedRoute, plan_deliveries

__all__ = [
    "AlertDispatcher",
    "Channel",
    "ChannelRejectedError",
    "ChannelUnavailableError",
    "DeliveryPlan",
    "DeliveryRecorder",
    "EscalationDue",
    "NotifyConfig",
    "NotifyError",
    "PlannedDelivery",
    "SkippedRoute",
    "build_channels",
    "escalation_step",
    "escalations_due",
    "plan_deliveries",
]
