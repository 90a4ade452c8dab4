"""The e-mail channel: an alert sent over SMTP (standard library `smtplib`, in a worker thread).

This module owns the message (subject, sender, recipient, plain-text body), the SMTP conversation (optional
STARTTLS, optional login) and the mapping of SMTP outcomes onto the `NotifyError` hierarchy. It must never
put the password into an error or a log line.

Decisions that must not be silently changed:
- A 4xx reply, a dropped or refused connection, a timeout: `ChannelUnavailableError` (retry may help).
  A 5xx reply (unknown recipient, bad credentials) and a server without STARTTLS or AUTH when they are
  asked for: `ChannelRejectedError`. An alert is never sent in the clear when STARTTLS was asked for.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage

from state.alerts import Alert
from tools.notify.base import ChannelRejectedError, ChannelUnavailableError, alert_subject, alert_text, redacted

__all__ = ["SmtpChannel"]


class SmtpChannel:
    """Sends alerts as e-mail through one SMTP server; the target is the recipient's address."""

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        timeout_s: float = 10.0,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._username = username
        self._password = password
        self._starttls = starttls
        self._timeout_s = timeout_s

    async def send(self, alert: Alert, target: str) -> None:
        message = EmailMessage()
        message["Subject"] = alert_subject(alert)
        message["From"] = self._sender
        message["To"] = target
        message.set_content(alert_text(alert))
        await asyncio.to_thread(self._send_blocking, message)

    def _send_blocking(self, message: EmailMessage) -> None:
        where = f"{self._host}:{self._port}"
        hidden = (self._password,) if self._password else ()
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout_s) as server:
                if self._starttls:
                    server.starttls(context=ssl.create_default_context())
                if self._username is not None:
                    server.login(self._username, self._password or "")
                server.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            replies = "; ".join(
                f"{address}: {code} {_text(reply)}" for address, (code, reply) in exc.recipients.items()
            )
            error = redacted(f"SMTP {where} refused the recipient ({replies})", hidden)
            if all(400 <= code < 500 for code, _ in exc.recipients.values()):
                raise ChannelUnavailableError(error) from None
            raise ChannelRejectedError(error) from None
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused, login refused, ...
            error = redacted(f"SMTP {where} answered {exc.smtp_code} {_text(exc.smtp_error)}", hidden)
            if 400 <= exc.smtp_code < 500:
                raise ChannelUnavailableError(error) from None
            raise ChannelRejectedError(error) from None
        except smtplib.SMTPServerDisconnected as exc:
            raise ChannelUnavailableError(redacted(f"SMTP {where} disconnected: {exc}", hidden)) from None
        except smtplib.SMTPException as exc:  # STARTTLS or AUTH not offered, no usable AUTH mechanism
            raise ChannelRejectedError(redacted(f"SMTP {where} cannot be used as configured: {exc}", hidden)) from None
        except TimeoutError:
            raise ChannelUnavailableError(f"SMTP {where} did not answer within {self._timeout_s:g} s") from None
        except OSError as exc:  # refused, unresolvable, reset, TLS handshake
            raise ChannelUnavailableError(redacted(f"cannot reach SMTP {where}: {exc}", hidden)) from None


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
