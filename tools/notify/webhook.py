"""The SMS and voice channels: an alert handed to a gateway (Twilio bridge, in-house pager) as a JSON webhook.

This module owns the gateway's body, `{"kind": "sms" | "voice", "to": target, "text": ...}`; one class
serves both kinds, set per instance. It must never put the gateway URL or its bearer token into an error.
"""

from __future__ import annotations

from typing import Literal

from state.alerts import Alert
from tools.notify._http import post_json
from tools.notify.base import alert_text

__all__ = ["GatewayChannel", "GatewayKind"]

GatewayKind = Literal["sms", "voice"]


class GatewayChannel:
    """Hands alerts to an SMS or voice gateway; the target is a phone number. `name` is the kind."""

    def __init__(
        self,
        kind: GatewayKind,
        url: str,
        *,
        bearer_token: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.name: str = kind
        self._kind = kind
        self._url = url
        self._bearer_token = bearer_token
        self._timeout_s = timeout_s

    async def send(self, alert: Alert, target: str) -> None:
        body = {"kind": self._kind, "to": target, "text": alert_text(alert)}
        headers = {"Authorization": f"Bearer {self._bearer_token}"} if self._bearer_token else None
        secrets = (self._bearer_token,) if self._bearer_token else ()
        await post_json(self._url, body, timeout_s=self._timeout_s, headers=headers, secrets=secrets)
