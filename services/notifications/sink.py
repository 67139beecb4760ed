"""SMTP: the client the delivery worker sends with (`SmtpSender`), and a local sink that
accepts every message and saves it as an .eml file, so a person can open what the system
sends (any mail client opens .eml files).

    python -m services.notifications.sink [--host 127.0.0.1] [--port 1025] [--dir .local/mail]

`make run` starts it on 127.0.0.1:1025 with the folder `.local/mail/`. The tests use
`MailSink` in-process, and its `refuse` set to play a mail server that rejects a mailbox.
"""

import argparse
import itertools
import re
import signal
import threading
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Self

import aiosmtplib
from aiosmtpd.controller import Controller

from services.notifications import errors, messages
from services.notifications.errors import (
    DeliveryFailure,
    PermanentFailure,
    TransientFailure,
)
from services.notifications.settings import NotificationsSettings

DEFAULT_DIR = Path(".local/mail")


# ---- the client ----------------------------------------------------------------------------------


def _smtp_failure(exc: Exception) -> DeliveryFailure:
    """The failure a mail's send came to: its message is an error class (`smtp_550`, `refused`...)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [refused.code for refused in exc.recipients]
        return (PermanentFailure if codes and min(codes) >= 500 else TransientFailure)(
            errors.smtp_code(min(codes) if codes else None))
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return TransientFailure(errors.SMTP_AUTH)  # wrong credentials are the operator's to fix, not the mail's
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        # 5xx: permanent (RFC 5321).
        return (PermanentFailure if exc.code >= 500 else TransientFailure)(errors.smtp_code(exc.code))
    code = errors.classify(exc)
    return TransientFailure("smtp_error" if code == errors.NETWORK else code)


class SmtpSender:
    def __init__(self, settings: NotificationsSettings) -> None:
        self.settings = settings

    def session(self) -> "SmtpSession":
        return SmtpSession(self.settings)

    async def send(self, message: EmailMessage, address: str) -> None:
        """Send on a connection of its own, or raise a failure (see `_smtp_failure`)."""
        async with self.session() as session:
            await session.send(message, address)


class SmtpSession:
    """One SMTP connection for many mails, opened at the first send.

    A mail the server refuses (a 550) is that mail's failure and the connection goes on. A
    connection that drops fails the mail being sent and the next mail connects again; once a
    connection cannot be made, every later mail of the session fails the same way without
    another try: each is retried with its backoff, as it would have been alone.
    """

    def __init__(self, settings: NotificationsSettings) -> None:
        self.settings = settings
        self._client: aiosmtplib.SMTP | None = None
        self._down: str | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def send(self, message: EmailMessage, address: str) -> None:
        s = self.settings
        if self._down is not None:
            raise TransientFailure(self._down)
        if self._client is None:
            client = aiosmtplib.SMTP(
                hostname=s.smtp_host, port=s.smtp_port, username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                use_tls=s.smtp_tls == "tls", start_tls=s.smtp_tls == "starttls", timeout=s.smtp_timeout_seconds)
            try:
                await client.connect()
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                failure = _smtp_failure(exc)
                self._down = failure.code
                raise failure from exc
            self._client = client
        try:
            await self._client.sendmail(s.mail_from, [address], messages.wire_bytes(message))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # A refusal leaves the connection usable (aiosmtplib resets the envelope); 421 and
            # anything else at the connection's level end it.
            refusal = isinstance(exc, aiosmtplib.SMTPRecipientsRefused) or \
                (isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code != 421)
            if not refusal or not self._client.is_connected:
                await self.close()
            raise _smtp_failure(exc) from exc

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            client.close()


# ---- the sink ----------------------------------------------------------------------------


class _Handler:
    def __init__(self, sink: "MailSink") -> None:
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address: str, rcpt_options) -> str:  # noqa: N802
        if not getattr(session, "counted", False):  # a session is one connection
            session.counted = True
            with self.sink._lock:
                self.sink.connections += 1
        if address.lower() in self.sink.refuse:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        self.sink.save(envelope.original_content or envelope.content, envelope.mail_from, list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


class MailSink:
    def __init__(self, folder: Path = DEFAULT_DIR, host: str = "127.0.0.1", port: int = 1025,
                 refuse: set[str] | None = None) -> None:
        self.folder, self.host, self.port = Path(folder), host, port
        self.refuse = {address.lower() for address in refuse or ()}
        self.received: list[tuple[bytes, str, list[str]]] = []  # (raw message, sender, recipients)
        self.connections = 0  # connections that asked to deliver at least one message
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._controller: Controller | None = None

    def start(self) -> "MailSink":
        self.folder.mkdir(parents=True, exist_ok=True)
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def save(self, raw: bytes, sender: str, recipients: list[str]) -> Path:
        """Write atomically (temp file, then rename) so a reader never sees half a message."""
        headers = BytesHeaderParser(policy=policy.default).parsebytes(raw)
        message_id = re.sub(r"[^A-Za-z0-9@._-]", "", str(headers.get("Message-ID", "")))[:80] or "no-id"
        with self._lock:
            self.received.append((raw, sender, recipients))
            name = f"{time.strftime('%Y%m%dT%H%M%S')}-{next(self._seq):05d}-{message_id}.eml"
        path = self.folder / name
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(raw)
        tmp.replace(path)
        return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.notifications.sink", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", default=str(DEFAULT_DIR), help="where .eml files go (default: .local/mail)")
    args = parser.parse_args(argv)
    sink = MailSink(Path(args.dir), args.host, args.port).start()
    print(f"SMTP sink on {args.host}:{args.port}, saving to {Path(args.dir).resolve()}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    sink.stop()


if __name__ == "__main__":
    main()
