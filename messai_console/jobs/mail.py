"""Sending email: SMTP when a server is configured, else ``.eml`` files in the outbox.

Settings (environment or ``.env``): ``SMTP_HOST``, ``SMTP_PORT`` (587),
``SMTP_USER``, ``SMTP_PASSWORD``, ``SMTP_STARTTLS`` (true: upgrade the
connection and refuse to send if the server cannot), ``SMTP_SSL`` (implicit
TLS, usually port 465), ``SMTP_TIMEOUT_S``, ``SMTP_TRY_LATER_MS`` (how long
to wait when the server answers 421/450/451/452), ``EMAIL_FROM``,
``ADMIN_EMAILS`` (comma-separated; they receive alerts) and
``EMAIL_RATE_PER_SECOND`` (the pace of batch sending over one connection).
"""

from __future__ import annotations

import contextlib
import os
import smtplib
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

from engine.errors import RateLimitedError, UnrecoverableError
from messai_console.settings import MailSettings

TRY_LATER_CODES = frozenset({421, 450, 451, 452})
"""SMTP replies meaning "slow down / try later": retried without spending an attempt."""
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


def compose(
    sender: str,
    recipient: str,
    subject: str,
    text: str,
    html: str | None = None,
    attachments: tuple[Path, ...] = (),
) -> EmailMessage:
    """A MIME message: plain text, an HTML alternative, and file attachments."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain="messai.local")
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for path in attachments:
        size = path.stat().st_size
        if size > MAX_ATTACHMENT_BYTES:
            raise UnrecoverableError(
                f"attachment {path.name} is {size} bytes; the limit is {MAX_ATTACHMENT_BYTES}"
            )
        maintype, subtype = _content_type(path)
        message.add_attachment(
            path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name
        )
    return message


def _content_type(path: Path) -> tuple[str, str]:
    types = {
        ".json": ("application", "json"),
        ".csv": ("text", "csv"),
        ".xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ".zip": ("application", "zip"),
        ".md": ("text", "markdown"),
        ".html": ("text", "html"),
    }
    return types.get(path.suffix.lower(), ("application", "octet-stream"))


class Transport(Protocol):
    name: str

    def send(self, message: EmailMessage) -> str:
        """Deliver one message; returns where it went."""


class OutboxTransport:
    """Writes each message as an ``.eml`` file (for development and the embedded setup)."""

    name = "outbox"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def send(self, message: EmailMessage) -> str:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = self.directory / f"{stamp}-{uuid.uuid4().hex[:12]}.eml"
        partial = path.with_suffix(".eml.part")
        partial.write_bytes(bytes(message))
        os.replace(partial, path)  # readers never see half a message
        return str(path)


class SmtpTransport:
    """One SMTP connection, reused for every message sent through it."""

    name = "smtp"

    def __init__(self, settings: MailSettings) -> None:
        assert settings.smtp_host
        self.try_later_ms = settings.smtp_try_later_ms
        context = ssl.create_default_context()
        try:
            if settings.smtp_ssl:
                self.client: smtplib.SMTP = smtplib.SMTP_SSL(
                    settings.smtp_host,
                    settings.smtp_port,
                    timeout=settings.smtp_timeout_s,
                    context=context,
                )
            else:
                self.client = smtplib.SMTP(
                    settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_s
                )
        except smtplib.SMTPException as exc:
            raise smtp_error(exc, self.try_later_ms) from None
        try:
            self._greet(settings, context)
        except BaseException as exc:
            self.client.close()
            if isinstance(exc, smtplib.SMTPException):
                raise smtp_error(exc, self.try_later_ms) from None
            raise

    def _greet(self, settings: MailSettings, context: ssl.SSLContext) -> None:
        self.client.ehlo()
        if settings.smtp_starttls and not settings.smtp_ssl:
            if not self.client.has_extn("starttls"):
                raise UnrecoverableError(
                    f"SMTP server {settings.smtp_host}:{settings.smtp_port} does not offer "
                    "STARTTLS; set SMTP_STARTTLS=false to send unencrypted"
                )
            self.client.starttls(context=context)
            self.client.ehlo()
        if settings.smtp_user:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            self.client.login(settings.smtp_user, password)

    def send(self, message: EmailMessage) -> str:
        try:
            self.client.send_message(message)
        except smtplib.SMTPException as exc:
            raise smtp_error(exc, self.try_later_ms) from None
        return "smtp"

    def close(self) -> None:
        try:
            self.client.quit()
        except (smtplib.SMTPException, OSError):
            self.client.close()


def smtp_error(exc: smtplib.SMTPException, try_later_ms: int = 30_000) -> Exception:
    """Sort an SMTP failure: try later (rate limited), permanent, or retry with backoff."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = {code for code, _ in exc.recipients.values()}
        if codes and codes <= TRY_LATER_CODES:
            return RateLimitedError(try_later_ms, f"SMTP server deferred the recipients {codes}")
        refused = ", ".join(sorted(exc.recipients))
        return UnrecoverableError(f"SMTP server refused the recipient(s) {refused}")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return UnrecoverableError(f"SMTP authentication failed ({exc.smtp_code})")
    if isinstance(exc, smtplib.SMTPResponseException):
        detail = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        if exc.smtp_code in TRY_LATER_CODES:
            return RateLimitedError(try_later_ms, f"SMTP {exc.smtp_code}: {detail}")
        if 500 <= exc.smtp_code < 600:
            return UnrecoverableError(f"SMTP {exc.smtp_code}: {detail}")
    return exc


@contextlib.contextmanager
def open_transport(settings: MailSettings, outbox: Path) -> Iterator[Transport]:
    """SMTP when ``SMTP_HOST`` is set, else the outbox; closed on exit."""
    if not settings.uses_smtp:
        yield OutboxTransport(outbox)
        return
    transport = SmtpTransport(settings)
    try:
        yield transport
    finally:
        transport.close()


class Pacer:
    """At most ``rate`` sends per second: :meth:`wait` blocks until the next slot."""

    def __init__(self, rate_per_second: float, cancelled: threading.Event | None = None) -> None:
        self.interval = 1.0 / rate_per_second if rate_per_second > 0 else 0.0
        self.cancelled = cancelled
        self._next = time.monotonic()

    def wait(self) -> None:
        delay = self._next - time.monotonic()
        if delay > 0:
            if self.cancelled is not None:
                self.cancelled.wait(delay)
            else:
                time.sleep(delay)
        self._next = max(self._next, time.monotonic()) + self.interval
