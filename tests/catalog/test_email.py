"""email-notifications over real SMTP (an aiosmtpd server in this process),
batch pacing, provider push-back, and the outbox when no SMTP is configured."""

from __future__ import annotations

import asyncio
import email
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from engine import InvalidJobError, Worker
from messai_console.jobs import creators
from messai_console.jobs.runtime import Services
from messai_console.store import Store
from messai_console.store.samples import SeededData
from tests.catalog.conftest import completed, finished, outbox_mail, run


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    peer: Any
    at: float


@dataclass
class Recorder:
    """An SMTP handler that keeps what it receives; some addresses are refused,
    and the first ``defer`` messages are answered 421 (try later)."""

    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    defer: int = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.defer > 0:
            self.defer -= 1
            return "421 4.7.0 too many messages, try again later"
        message = email.message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(
            Received(
                envelope.mail_from, list(envelope.rcpt_tos), message, session.peer, time.monotonic()
            )
        )
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def check_login(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"mailer"
        and auth_data.password == b"s3cret"
    )
    return AuthResult(success=ok)


@pytest.fixture
def smtp_server() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    port = free_port()
    controller = Controller(
        recorder, hostname="127.0.0.1", port=port, authenticator=check_login, auth_require_tls=False
    )
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


@pytest.fixture
def smtp(smtp_server: tuple[Recorder, int], services: Services) -> Recorder:
    """The catalog's mail settings pointed at the test server (with a login)."""
    recorder, port = smtp_server
    services.mail = outbox_mail(
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=False,
        smtp_user="mailer",
        smtp_password="s3cret",
        smtp_try_later_ms=100,
        email_from="MESSAI <noreply@messai.test>",
    )
    return recorder


async def test_welcome_email_over_smtp(
    redis_client: redis.asyncio.Redis, smtp: Recorder, store: Store, worker: Worker
) -> None:
    job = await creators.send_email(
        "john@example.com", "welcome", {"name": "John Doe"}, priority="high", redis=redis_client
    )
    assert job.options.priority == 1
    completed(await finished(redis_client, "email-notifications", job.id))
    assert len(smtp.received) == 1
    received = smtp.received[0]
    assert received.recipients == ["john@example.com"]
    assert received.sender == "noreply@messai.test"
    assert received.message["Subject"] == "Welcome to MESSAI, John Doe"
    assert received.message["To"] == "john@example.com"
    assert "Hello John Doe," in received.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "<p>Hello John Doe,</p>" in received.message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    log = store.rows("email_log", {"recipient": "john@example.com"})
    assert [row["transport"] for row in log] == ["smtp"]


async def test_batch_uses_one_connection_and_honours_the_rate(
    redis_client: redis.asyncio.Redis, smtp: Recorder, worker: Worker
) -> None:
    recipients = [
        {"to": f"user{n}@example.com", "context": {"name": f"User {n}"}} for n in range(5)
    ]
    job = await run(
        redis_client,
        "email-notifications",
        "send_batch",
        {"template": "welcome", "recipients": recipients, "rate_per_second": 10},
    )
    result = completed(job)
    assert result["sent"] == 5
    assert [r.recipients[0] for r in smtp.received] == [f"user{n}@example.com" for n in range(5)]
    assert len({r.peer for r in smtp.received}) == 1  # one connection for the whole batch
    span = smtp.received[-1].at - smtp.received[0].at
    assert span >= 0.4 - 0.02  # five messages at ten per second: four intervals of 100 ms
    assert [r.message["Subject"] for r in smtp.received][:2] == [
        "Welcome to MESSAI, User 0",
        "Welcome to MESSAI, User 1",
    ]


async def test_refused_recipient_fails_at_once_and_the_rest_of_a_batch_goes(
    redis_client: redis.asyncio.Redis, smtp: Recorder, worker: Worker
) -> None:
    smtp.refuse.add("ghost@example.com")
    single = await run(
        redis_client,
        "email-notifications",
        "welcome",
        {"to": "ghost@example.com", "context": {"name": "Ghost"}},
    )
    assert single.state == "failed" and single.attempts_made == 1
    assert "refused the recipient(s) ghost@example.com" in (single.error or "")
    batch = completed(
        await run(
            redis_client,
            "email-notifications",
            "send_batch",
            {
                "template": "welcome",
                "recipients": [{"to": "ghost@example.com"}, {"to": "ada@example.com"}],
                "context": {"name": "friend"},
            },
        )
    )
    assert batch["sent"] == 1 and batch["refused"][0]["to"] == "ghost@example.com"
    assert [r.recipients for r in smtp.received] == [["ada@example.com"]]


async def test_try_later_reply_delays_the_job_without_spending_an_attempt(
    redis_client: redis.asyncio.Redis, smtp: Recorder, worker: Worker
) -> None:
    smtp.defer = 2
    job = await run(
        redis_client,
        "email-notifications",
        "welcome",
        {"to": "ada@example.com", "context": {"name": "Ada"}},
        attempts=1,
    )
    completed(job)
    assert job.attempts_made == 1
    assert [r.recipients for r in smtp.received] == [["ada@example.com"]]


async def test_starttls_required_but_not_offered_is_a_clear_failure(
    redis_client: redis.asyncio.Redis, smtp: Recorder, services: Services, worker: Worker
) -> None:
    services.mail = services.mail.model_copy(update={"smtp_starttls": True})
    job = await run(
        redis_client,
        "email-notifications",
        "welcome",
        {"to": "ada@example.com", "context": {"name": "Ada"}},
    )
    assert job.state == "failed" and job.attempts_made == 1
    assert "does not offer STARTTLS" in (job.error or "")
    assert smtp.received == []


async def test_without_smtp_the_message_lands_in_the_outbox(
    redis_client: redis.asyncio.Redis, services: Services, worker: Worker
) -> None:
    assert services.mail.smtp_host is None
    result = completed(
        await run(
            redis_client,
            "email-notifications",
            "error_notification",
            {
                "to": "admin@example.com",
                "context": {"subject": "disk full", "message": "/data is at 97%"},
            },
        )
    )
    files = await asyncio.to_thread(lambda: sorted(services.paths.outbox.glob("*.eml")))
    assert [str(path) for path in files] == [result["where"]]
    message = email.message_from_bytes(
        await asyncio.to_thread(files[0].read_bytes), policy=policy.default
    )
    assert message["Subject"] == "[MESSAI alert] disk full"
    assert message["To"] == "admin@example.com"
    assert "/data is at 97%" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_export_ready_email_attaches_the_file(
    redis_client: redis.asyncio.Redis, seeded: SeededData, services: Services, worker: Worker
) -> None:
    export = completed(
        await run(
            redis_client,
            "data-export",
            "papers",
            {"format": "csv", "email_to": "lena.moreno@example.com"},
            job_id="exp-mail",
        )
    )
    sent = completed(await finished(redis_client, "email-notifications", "exp-mail-then-0"))
    message = email.message_from_bytes(
        await asyncio.to_thread(Path(sent["where"]).read_bytes), policy=policy.default
    )
    attachments = list(message.iter_attachments())
    assert [part.get_filename() for part in attachments] == [Path(export["path"]).name]
    assert attachments[0].get_content().startswith("id,title,")


async def test_header_injection_is_refused_at_enqueue(redis_client: redis.asyncio.Redis) -> None:
    with pytest.raises(InvalidJobError, match="to: string should match pattern"):
        await creators.send_email(
            "a@example.com\nBcc: all@example.com", "welcome", {"name": "x"}, redis=redis_client
        )
    assert await redis_client.dbsize() == 0
