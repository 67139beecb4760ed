"""SMTP: the client the delivery worker sends with. One connection serves a batch of mails;
each mail's fate is classified as permanent or transient (`services.notifications.errors`).
The local run's mail catcher is `sink.py`."""

from email.message import EmailMessage
from typing import Self

import aiosmtplib

from services.notifications import errors, messages
from services.notifications.errors import (
    DeliveryFailure,
    PermanentFailure,
    TransientFailure,
)
from services.notifications.settings import NotificationsSettings


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
