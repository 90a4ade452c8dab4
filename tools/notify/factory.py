"""Building the channel adapters that a `NotifyConfig` describes.

This module owns the wiring from configuration to adapters, the only place that reveals the secrets
(`SecretStr.get_secret_value`) and hands them to the adapters. It sends nothing.

Decisions that must not be silently changed:
- The log channel is always built: with no endpoint configured (the embedded default) it is the only one.
"""

from __future__ import annotations

from collections.abc import Callable

from tools.notify.base import Channel
from tools.notify.config import ChannelsConfig, GatewayConfig, NotifyConfig
from tools.notify.log import LogChannel
from tools.notify.slack import SlackChannel
from tools.notify.smtp import SmtpChannel
from tools.notify.telegram import TelegramChannel
from tools.notify.webhook import GatewayChannel, GatewayKind

__all__ = ["build_channels"]


def build_channels(config: NotifyConfig) -> dict[str, Channel]:
    """The channels `config` configures, keyed by channel name, always with "log"."""
    channels: dict[str, Channel] = {"log": LogChannel()}
    for build in _BUILDERS:
        channel = build(config.channels)
        if channel is not None:
            channels[channel.name] = channel
    return channels


def _slack(endpoints: ChannelsConfig) -> Channel | None:
    slack = endpoints.slack
    if slack is None:
        return None
    return SlackChannel(slack.webhook_url.get_secret_value(), timeout_s=slack.timeout_s)


def _telegram(endpoints: ChannelsConfig) -> Channel | None:
    telegram = endpoints.telegram
    if telegram is None:
        return None
    return TelegramChannel(
        telegram.bot_token.get_secret_value(), api_base=telegram.api_base, timeout_s=telegram.timeout_s
    )


def _email(endpoints: ChannelsConfig) -> Channel | None:
    smtp = endpoints.email
    if smtp is None:
        return None
    return SmtpChannel(
        smtp.host,
        smtp.port,
        sender=smtp.sender,
        username=smtp.username,
        password=smtp.password.get_secret_value() if smtp.password else None,
        starttls=smtp.starttls,
        timeout_s=smtp.timeout_s,
    )


def _sms(endpoints: ChannelsConfig) -> Channel | None:
    return _gateway("sms", endpoints.sms)


def _voice(endpoints: ChannelsConfig) -> Channel | None:
    return _gateway("voice", endpoints.voice)


def _gateway(kind: GatewayKind, gateway: GatewayConfig | None) -> Channel | None:
    if gateway is None:
        return None
    token = gateway.bearer_token.get_secret_value() if gateway.bearer_token else None
    return GatewayChannel(kind, gateway.url.get_secret_value(), bearer_token=token, timeout_s=gateway.timeout_s)


_BUILDERS: tuple[Callable[[ChannelsConfig], Channel | None], ...] = (
    _slack,
    _telegram,
    _email,
    _sms,
    _voice,
)
