"""The Slack channel: an alert posted to a Slack-compatible incoming webhook.

This module owns the body Slack (or Mattermost, Rocket.Chat, any compatible receiver) expects:
`{"text": ..., "channel": target}`. It must never put the webhook URL into an error: the URL is the credential.
"""

from __future__ import annotations

from state.alerts import Alert
from tools.notify._http import post_json
from tools.notify.base import alert_text

__all__ = ["SlackChannel"]


class SlackChannel:
    """Posts alerts to one incoming webhook; the target is the Slack channel ("#alerts")."""

    name = "slack"

    def __init__(self, webhook_url: str, *, timeout_s: float = 10.0) -> None:
        self._webhook_url = webhook_url
        self._timeout_s = timeout_s

    async def send(self, alert: Alert, target: str) -> None:
        body = {"text": alert_text(alert), "channel": target}
        await post_json(self._webhook_url, body, timeout_s=self._timeout_s)
