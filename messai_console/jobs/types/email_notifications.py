"""``email-notifications``: one job per template (``welcome``,
``experiment_complete``, ``paper_processed``, ``error_notification``,
``export_ready``) and ``send_batch`` for many recipients over one connection.

The payload's ``priority`` (high, normal, low) becomes the job's priority.
Sent over SMTP when ``SMTP_HOST`` is set, else written to the outbox as
``.eml`` files. Every message sent is logged in the store with the job's id,
so a job that runs again (a retry after a lost connection, say) does not
send the same message twice.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from engine.errors import RateLimitedError, UnrecoverableError
from engine.options import PRIORITY_NAMES
from messai_console.jobs.catalog import Payload, describe_errors, job_type
from messai_console.jobs.electrochem import METRIC_LABELS
from messai_console.jobs.fields import EmailAddress, Identifier
from messai_console.jobs.mail import Pacer, Transport, compose, open_transport
from messai_console.jobs.queues import EMAIL_NOTIFICATIONS
from messai_console.jobs.runtime import Task
from messai_console.store import Store

QUEUE = EMAIL_NOTIFICATIONS
Priority = Literal["high", "normal", "low"]
TemplateName = Literal[
    "welcome",
    "experiment_complete",
    "paper_processed",
    "error_notification",
    "export_ready",
    "report",
]
SEND_OPTIONS: dict[str, Any] = {
    "attempts": 5,
    "backoff": {"type": "exponential", "delay_ms": 5000, "jitter": 0.2},
}
Text = Field(min_length=1, max_length=2000)


# -- template contexts ------------------------------------------------------


class WelcomeContext(Payload):
    name: str = Text


class ExperimentCompleteContext(Payload):
    experiment_id: Identifier
    name: str | None = Field(default=None, max_length=500)
    metrics: dict[str, float | int | str | None] = Field(default_factory=dict)
    report: str | None = None
    """Path of the experiment report, mentioned in the message."""


class PaperProcessedContext(Payload):
    paper_id: Identifier
    title: str | None = Field(default=None, max_length=1000)
    keywords: list[str] = Field(default_factory=list, max_length=50)
    summary: dict[str, float | int | str] = Field(default_factory=dict)


class ErrorNotificationContext(Payload):
    subject: str = Text
    message: str = Field(min_length=1, max_length=20_000)
    details: dict[str, Any] = Field(default_factory=dict)


class ExportReadyContext(Payload):
    export: str = Text
    format: str = Text
    rows: int = Field(ge=0)
    path: str = Text
    """The export file, attached when it is inside the data directory."""


class ReportContext(Payload):
    title: str = Text
    summary: dict[str, float | int | str | None] = Field(default_factory=dict)
    lines: list[str] = Field(default_factory=list, max_length=200)
    path: str | None = None


@dataclass(frozen=True)
class Template:
    context: type[Payload]
    subject: Callable[[Any], str]
    body: Callable[[Any], list[str]]
    """Paragraphs of the message."""


def _metrics_lines(values: dict[str, Any]) -> str:
    return "\n".join(f"  {key.replace('_', ' ')}: {value}" for key, value in values.items())


TEMPLATES: dict[str, Template] = {
    "welcome": Template(
        WelcomeContext,
        lambda c: f"Welcome to MESSAI, {c.name}",
        lambda c: [
            f"Hello {c.name},",
            "your MESSAI account is ready. Upload papers to have their text, keywords and "
            "system parameters extracted, and experiment data to get power density, current "
            "density and coulombic efficiency computed for you.",
            "The MESSAI team",
        ],
    ),
    "experiment_complete": Template(
        ExperimentCompleteContext,
        lambda c: f"Experiment {c.name or c.experiment_id} is complete",
        lambda c: [
            f"The analysis of experiment {c.name or c.experiment_id} ({c.experiment_id}) is complete.",
            *([f"Metrics:\n{_metrics_lines(c.metrics)}"] if c.metrics else []),
            *([f"Report: {c.report}"] if c.report else []),
        ],
    ),
    "paper_processed": Template(
        PaperProcessedContext,
        lambda c: f"Paper processed: {c.title or c.paper_id}",
        lambda c: [
            f"The paper {c.title or c.paper_id} ({c.paper_id}) has been processed.",
            *([f"Keywords: {', '.join(c.keywords)}"] if c.keywords else []),
            *([f"Summary:\n{_metrics_lines(c.summary)}"] if c.summary else []),
        ],
    ),
    "error_notification": Template(
        ErrorNotificationContext,
        lambda c: f"[MESSAI alert] {c.subject}",
        lambda c: [c.message, *([f"Details:\n{_metrics_lines(c.details)}"] if c.details else [])],
    ),
    "export_ready": Template(
        ExportReadyContext,
        lambda c: f"Your {c.export} export is ready",
        lambda c: [
            f"The {c.export} export ({c.format}, {c.rows} rows) is ready: {Path(c.path).name}."
        ],
    ),
    "report": Template(
        ReportContext,
        lambda c: f"MESSAI {c.title}",
        lambda c: [
            f"{c.title}",
            *([_metrics_lines(c.summary)] if c.summary else []),
            *(["\n".join(f"- {line}" for line in c.lines)] if c.lines else []),
            *([f"Full report: {c.path}"] if c.path else []),
        ],
    ),
}


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def render(template: str, context: Payload, sender: str, recipient: str, data_dir: Path) -> Any:
    """The message for ``template`` filled from ``context``: text, HTML and attachments."""
    spec = TEMPLATES[template]
    paragraphs = spec.body(context)
    text = "\n\n".join(paragraphs) + "\n"
    body = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    markup = f"<!doctype html><html><body>{body}</body></html>"
    attachments: tuple[Path, ...] = ()
    if isinstance(context, ExportReadyContext):
        path = Path(context.path).resolve()
        if path.is_file() and path.is_relative_to(data_dir.resolve()):
            attachments = (path,)
    return compose(sender, recipient, _one_line(spec.subject(context)), text, markup, attachments)


# -- payloads -------------------------------------------------------------


class EmailPayload(Payload):
    to: EmailAddress
    priority: Priority = "normal"

    def job_options(self) -> dict[str, Any]:
        return {"priority": PRIORITY_NAMES[self.priority]}


class WelcomeEmail(EmailPayload):
    context: WelcomeContext


class ExperimentCompleteEmail(EmailPayload):
    context: ExperimentCompleteContext


class PaperProcessedEmail(EmailPayload):
    context: PaperProcessedContext


class ErrorNotificationEmail(EmailPayload):
    context: ErrorNotificationContext
    priority: Priority = "high"


class ExportReadyEmail(EmailPayload):
    context: ExportReadyContext


class ReportEmail(EmailPayload):
    context: ReportContext
    priority: Priority = "low"


class BatchRecipient(Payload):
    to: EmailAddress
    context: dict[str, Any] = Field(default_factory=dict)


class SendBatch(Payload):
    template: TemplateName
    recipients: list[BatchRecipient] = Field(min_length=1, max_length=10_000)
    context: dict[str, Any] = Field(default_factory=dict)
    """Shared by every recipient; each recipient's own context wins."""
    rate_per_second: float | None = Field(default=None, gt=0, le=1000)
    """Sending pace (default EMAIL_RATE_PER_SECOND)."""
    priority: Priority = "low"

    @model_validator(mode="after")
    def _contexts_fit_the_template(self) -> SendBatch:
        model = TEMPLATES[self.template].context
        for index, recipient in enumerate(self.recipients):
            try:
                model.model_validate({**self.context, **recipient.context})
            except ValidationError as exc:
                raise ValueError(f"recipients.{index}.context: {describe_errors(exc)}") from None
        return self

    def job_options(self) -> dict[str, Any]:
        return {"priority": PRIORITY_NAMES[self.priority]}


# -- sending ----------------------------------------------------------------


def _already_sent(task: Task[Any]) -> set[str]:
    return {row["recipient"] for row in task.store.rows("email_log", {"job_id": task.job_id})}


def _send(
    task: Task[Any], transport: Transport, template: str, recipient: str, context: Payload
) -> dict[str, Any]:
    mail = task.services.mail
    message = render(template, context, mail.email_from, recipient, task.paths.root)
    where = transport.send(message)
    task.store.insert_many(
        "email_log",
        [
            {
                "job_id": task.job_id,
                "recipient": recipient,
                "template": template,
                "subject": str(message["Subject"]),
                "transport": transport.name,
                "created_at": time.time(),
            }
        ],
    )
    return {
        "to": recipient,
        "subject": str(message["Subject"]),
        "transport": transport.name,
        "where": where,
    }


def with_store_details(store: Store, context: Payload) -> Payload:
    """A paper's or experiment's context completed from the store (title, keywords,
    metrics, report), so a chain can end with an email that names only the id."""
    if isinstance(context, PaperProcessedContext):
        paper = store.get("papers", context.paper_id)
        if paper is None:
            return context
        analysis = paper.get("analysis") or {}
        statistics = analysis.get("statistics") or {}
        summary = {
            key: statistics[key]
            for key in ("words", "sentences", "unique_words")
            if key in statistics
        }
        parameters = store.count("parameters", {"paper_id": context.paper_id})
        if parameters:
            summary["parameters"] = parameters
        return context.model_copy(
            update={
                "title": context.title or paper.get("title"),
                "keywords": context.keywords
                or [k["term"] for k in analysis.get("keywords", [])][:8],
                "summary": context.summary or summary,
            }
        )
    if isinstance(context, ExperimentCompleteContext):
        experiment = store.get("experiments", context.experiment_id)
        if experiment is None:
            return context
        metrics = experiment.get("metrics") or {}
        reports = store.rows(
            "reports", {"subject": context.experiment_id}, order_by=("-created_at",), limit=1
        )
        return context.model_copy(
            update={
                "name": context.name or experiment.get("name"),
                "metrics": context.metrics
                or {key: metrics[key] for key in list(METRIC_LABELS)[:8] if key in metrics},
                "report": context.report or (reports[0]["path"] if reports else None),
            }
        )
    return context


def _send_single(task: Task[Any], template: str) -> dict[str, Any]:
    payload: EmailPayload = task.payload
    if payload.to in _already_sent(task):
        return {"to": payload.to, "skipped": "already sent by an earlier run of this job"}
    context = with_store_details(task.store, payload.context)  # type: ignore[attr-defined]
    with open_transport(task.services.mail, task.paths.outbox) as transport:
        return _send(task, transport, template, payload.to, context)


@job_type(queue=QUEUE, name="welcome", payload=WelcomeEmail, options=SEND_OPTIONS)
def welcome(task: Task[WelcomeEmail]) -> dict[str, Any]:
    """A welcome message to a new user."""
    return _send_single(task, "welcome")


@job_type(
    queue=QUEUE, name="experiment_complete", payload=ExperimentCompleteEmail, options=SEND_OPTIONS
)
def experiment_complete(task: Task[ExperimentCompleteEmail]) -> dict[str, Any]:
    """The metrics and report of a finished experiment, to its owner."""
    return _send_single(task, "experiment_complete")


@job_type(queue=QUEUE, name="paper_processed", payload=PaperProcessedEmail, options=SEND_OPTIONS)
def paper_processed(task: Task[PaperProcessedEmail]) -> dict[str, Any]:
    """The keywords and figures of a processed paper."""
    return _send_single(task, "paper_processed")


@job_type(
    queue=QUEUE, name="error_notification", payload=ErrorNotificationEmail, options=SEND_OPTIONS
)
def error_notification(task: Task[ErrorNotificationEmail]) -> dict[str, Any]:
    """An alert to an administrator."""
    return _send_single(task, "error_notification")


@job_type(queue=QUEUE, name="export_ready", payload=ExportReadyEmail, options=SEND_OPTIONS)
def export_ready(task: Task[ExportReadyEmail]) -> dict[str, Any]:
    """An export file, attached."""
    return _send_single(task, "export_ready")


@job_type(queue=QUEUE, name="report", payload=ReportEmail, options=SEND_OPTIONS)
def report(task: Task[ReportEmail]) -> dict[str, Any]:
    """A scheduled report or digest."""
    return _send_single(task, "report")


@job_type(queue=QUEUE, name="send_batch", payload=SendBatch, options=SEND_OPTIONS)
def send_batch(task: Task[SendBatch]) -> dict[str, Any]:
    """One template to many recipients over one connection, at most ``rate_per_second``."""
    payload = task.payload
    model = TEMPLATES[payload.template].context
    done = _already_sent(task)
    pending = [r for r in payload.recipients if r.to not in done]
    rate = payload.rate_per_second or task.services.mail.email_rate_per_second
    pacer = Pacer(rate, task.context.cancelled)
    sent, refused = 0, []
    with open_transport(task.services.mail, task.paths.outbox) as transport:
        for index, recipient in enumerate(pending, start=1):
            pacer.wait()
            task.check_cancelled()
            context = model.model_validate({**payload.context, **recipient.context})
            try:
                _send(task, transport, payload.template, recipient.to, context)
                sent += 1
            except UnrecoverableError as exc:
                refused.append({"to": recipient.to, "error": str(exc)})
            except RateLimitedError:
                task.log(f"server asked to slow down after {sent} messages; the rest follow later")
                raise
            task.progress(100 * index / len(pending), f"{index} of {len(pending)}")
    if refused and not sent and not done:
        raise UnrecoverableError(f"every recipient was refused, e.g. {refused[0]['error']}")
    return {"sent": sent, "skipped": len(done), "refused": refused, "rate_per_second": rate}
