"""The alerting configuration: channel endpoints, contacts, routing per level, escalation and retry.

This module owns the shape and the defaults of `NotifyConfig` (AEGIS v3.1 sections 6.2 and 6.3). It holds
no I/O and builds no adapter (`tools.notify.factory` does).

Decisions that must not be silently changed (the defaults):
- Routing: INFO -> Slack "#alerts"; WARNING -> Slack "#urgent" and e-mail; CRITICAL -> SMS, voice and
  e-mail; EMERGENCY -> SMS three times and voice (the halt is the caller's, not ours).
- Escalation of an unacknowledged alert: after 5 minutes the second contact is paged too, after 10 the
  third, after 15 everyone.
- With no endpoint configured (the embedded default) no external channel exists; alerts still reach the log.
- Secrets (webhook URLs, tokens, passwords) are `SecretStr`: they never show in a repr or a log line.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from state.alerts import AlertLevel
from tools.notify.telegram import TELEGRAM_API

__all__ = [
    "ChannelName",
    "ChannelsConfig",
    "Contact",
    "ContactField",
    "EscalationConfig",
    "GatewayConfig",
    "NotifyConfig",
    "RetryPolicy",
    "Route",
    "RoutingConfig",
    "SlackConfig",
    "SmtpConfig",
    "TelegramConfig",
]

ChannelName = Literal["slack", "telegram", "email", "sms", "voice", "log"]
ContactField = Literal["email", "phone", "telegram_chat"]


class SlackConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook_url: SecretStr = Field(description="Incoming webhook URL (it is the credential)")
    timeout_s: float = Field(10.0, gt=0, description="Per request, seconds")


class TelegramConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bot_token: SecretStr
    api_base: str = Field(TELEGRAM_API, min_length=1, description="Bot API root, without /bot<token>")
    timeout_s: float = Field(10.0, gt=0, description="Per request, seconds")


class SmtpConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    sender: str = Field(min_length=1, description="The From address")
    username: str | None = Field(None, description="Log in when set")
    password: SecretStr | None = None
    starttls: bool = True
    timeout_s: float = Field(10.0, gt=0, description="Per connection, seconds")


class GatewayConfig(BaseModel):
    """An SMS or voice gateway taking `{"kind", "to", "text"}` as JSON."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: SecretStr
    bearer_token: SecretStr | None = Field(None, description="Sent as `Authorization: Bearer <token>` when set")
    timeout_s: float = Field(10.0, gt=0, description="Per request, seconds")


class ChannelsConfig(BaseModel):
    """The endpoints of the external channels; a channel left out does not exist."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slack: SlackConfig | None = None
    telegram: TelegramConfig | None = None
    email: SmtpConfig | None = None
    sms: GatewayConfig | None = None
    voice: GatewayConfig | None = None


class Contact(BaseModel):
    """A person who may be paged; escalation goes down the contacts list in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    email: str | None = None
    phone: str | None = None
    telegram_chat: str | None = None

    def address(self, field: ContactField) -> str | None:
        """This contact's address for a route's `contact` field (None when the contact has none)."""
        addresses: dict[ContactField, str | None] = {
            "email": self.email,
            "phone": self.phone,
            "telegram_chat": self.telegram_chat,
        }
        return addresses[field]


class Route(BaseModel):
    """One way an alert of a level goes out: over `channel`, to a fixed `target` or to a `contact` field.

    A contact-addressed route reaches every contact paged at the alert's escalation step; a target-addressed
    one (Slack "#urgent") reaches its target whatever the step. `repeat` sends that many copies.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: ChannelName
    target: str | None = Field(None, min_length=1, description='A fixed address, e.g. Slack "#urgent"')
    contact: ContactField | None = Field(None, description="Which field of the paged contacts is the address")
    repeat: int = Field(1, ge=1, le=10, description="Copies sent per target")

    @model_validator(mode="after")
    def _one_address(self) -> Route:
        if (self.target is None) == (self.contact is None):
            raise ValueError("a route names exactly one of `target` and `contact`")
        return self


class RoutingConfig(BaseModel):
    """The routes of each level; a level left out of the YAML keeps its default routes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    info: tuple[Route, ...] = (Route(channel="slack", target="#alerts"),)
    warning: tuple[Route, ...] = (Route(channel="slack", target="#urgent"), Route(channel="email", contact="email"))
    critical: tuple[Route, ...] = (
        Route(channel="sms", contact="phone"),
        Route(channel="voice", contact="phone"),
        Route(channel="email", contact="email"),
    )
    emergency: tuple[Route, ...] = (
        Route(channel="sms", contact="phone", repeat=3),
        Route(channel="voice", contact="phone"),
    )

    def routes_for(self, level: AlertLevel) -> tuple[Route, ...]:
        by_level = {
            AlertLevel.INFO: self.info,
            AlertLevel.WARNING: self.warning,
            AlertLevel.CRITICAL: self.critical,
            AlertLevel.EMERGENCY: self.emergency,
        }
        return by_level[level]


class EscalationConfig(BaseModel):
    """Minutes after which an unacknowledged alert climbs a step; the last step pages everyone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    minutes: tuple[float, ...] = Field((5.0, 10.0, 15.0), min_length=1)

    @field_validator("minutes")
    @classmethod
    def _increasing(cls, minutes: tuple[float, ...]) -> tuple[float, ...]:
        if minutes[0] <= 0 or any(later <= earlier for earlier, later in pairwise(minutes)):
            raise ValueError("escalation minutes must be positive and strictly increasing")
        return minutes

    @property
    def final_step(self) -> int:
        """The step at which everyone is paged."""
        return len(self.minutes)


class RetryPolicy(BaseModel):
    """Delivery retries: `attempts` in all; before attempt n+1 wait `min(max_s, base_s * factor ** (n - 1))`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attempts: int = Field(5, ge=1, le=20)
    base_s: float = Field(1.0, ge=0, description="Wait before the second attempt, seconds")
    factor: float = Field(2.0, ge=1)
    max_s: float = Field(30.0, ge=0, description="Longest wait between two attempts, seconds")

    def delay_s(self, failed_attempt: int) -> float:
        """Seconds to wait after attempt number `failed_attempt` (1-based) failed."""
        return min(self.max_s, self.base_s * self.factor ** (failed_attempt - 1))


class NotifyConfig(BaseModel):
    """Everything `tools.notify` needs; the defaults are the embedded ones (no external channel)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: ChannelsConfig = Field(default_factory=ChannelsConfig)
    contacts: tuple[Contact, ...] = Field((), description="In paging order: the first is paged first")
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
