"""Real receivers on loopback for the channel tests: a JSON-over-HTTP receiver and an SMTP server.

Both listen on 127.0.0.1 at a port the OS chooses and keep what they received. The HTTP receiver can be
told to answer with an error status for the next requests and to be slow; its error bodies echo the
request path, as careless servers do, so a test can check that a secret in the URL is redacted.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass(frozen=True)
class ReceivedPost:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int  # what the receiver answered


class HttpReceiver:
    """A threaded HTTP server that captures JSON POSTs and answers as scripted (200 unless told otherwise)."""

    def __init__(self) -> None:
        self.posts: list[ReceivedPost] = []
        self.delay_s = 0.0
        self._script: list[int] = []
        self._always: int | None = None
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def answer(self, status: int, times: int | None = None) -> None:
        """Answer the next `times` requests (all of them if None) with `status`."""
        with self._lock:
            if times is None:
                self._always = status
            else:
                self._script.extend([status] * times)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=2.0)

    def _next_status(self) -> int:
        with self._lock:
            if self._script:
                return self._script.pop(0)
            return self._always or 200

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                status = receiver._next_status()
                with receiver._lock:
                    receiver.posts.append(ReceivedPost(self.path, dict(self.headers.items()), body, status))
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                answer = b'{"ok": true}' if status < 400 else f"refused {self.path}".encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the client gave up (a timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@dataclass(frozen=True)
class ReceivedMail:
    sender: str
    recipients: list[str]
    content: str


class MailHandler:
    """The aiosmtpd handler: keeps the messages, refuses recipients with a reply when told to."""

    def __init__(self) -> None:
        self.messages: list[ReceivedMail] = []
        self.refuse_recipients_with: str | None = None  # e.g. "550 5.1.1 no such user"

    async def handle_RCPT(  # noqa: N802 - the hook names aiosmtpd calls
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.refuse_recipients_with:
            return self.refuse_recipients_with
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.content
        text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
        self.messages.append(ReceivedMail(str(envelope.mail_from), list(envelope.rcpt_tos), text))
        return "250 Message accepted for delivery"


class PasswordCheck:
    """An aiosmtpd authenticator accepting one user and password."""

    def __init__(self, username: str, password: str) -> None:
        self._username = username
        self._password = password

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self._username
            and auth_data.password.decode() == self._password
        )
        return AuthResult(success=ok, handled=False)
