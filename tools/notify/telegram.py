"""The Telegram channel: an alert sent by a bot through the Bot API's `sendMessage`.

This module owns the Bot API call: POST `{api_base}/bot{token}/sendMessage` with `{"chat_id", "text"}`.
It must never put the bot token into an error or a log line: the token sits in the URL's path.
A text longer than the API takes (4096 characters) is cut, not refused: a cut alert still pages.
"""

from __future__ import annotations

from state.alerts import Alert
from tools.notify._http import post_json
from tools.notify.base import alert_text

__all__ = ["TELEGRAM_API", "TelegramChannel"]

TELEGRAM_API = "https://api.telegram.org"
_MAX_TEXT_CHARS = 4096


class TelegramChannel:
    """Sends alerts as one bot; the target is a chat id (a person's, or a group's)."""

    name = "telegram"

    def __init__(self, bot_token: str, *, api_base: str = TELEGRAM_API, timeout_s: float = 10.0) -> None:
        self._bot_token = bot_token
        self._url = f"{api_base.rstrip('/')}/bot{bot_token}/sendMessage"
        self._timeout_s = timeout_s

    async def send(self, alert: Alert, target: str) -> None:
        body = {"chat_id": target, "text": alert_text(alert)[:_MAX_TEXT_CHARS]}
        await post_json(self._url, body, timeout_s=self._timeout_s, secrets=(self._bot_token,))
