"""``messai-console job add``: one job, or one job per line of a file."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import redis.asyncio
import typer

from engine.errors import InvalidJobError
from engine.queue import BULK_CHUNK, BulkJob, Queue
from messai_console.cli import parsing
from messai_console.cli.completion import queue_names
from messai_console.cli.job.payloads import default_options, validate_payload
from messai_console.cli.output import print_json, print_line, warn
from messai_console.cli.progress import progress_bar
from messai_console.cli.runtime import EXIT_FAILED, fail, runtime
from messai_console.text import visible


class DedupChoice(StrEnum):
    PLAIN = "plain"
    EXTEND = "extend"
    REPLACE = "replace"


def add(
    ctx: typer.Context,
    queue: Annotated[str, typer.Argument(help="Queue name.", autocompletion=queue_names)],
    name: Annotated[str, typer.Argument(help="Job name: the processor that runs it.")],
    data: Annotated[
        str | None, typer.Option(help="Job data as JSON, or @file (@- for stdin).")
    ] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            help="Add one job per line of this JSON-lines file (- for stdin); each line is a job's data.",
        ),
    ] = None,
    delay: Annotated[
        str | None, typer.Option(help="Start no sooner than this from now: 500ms, 10s, 5m.")
    ] = None,
    delay_ms: Annotated[int | None, typer.Option(min=0, help="Delay in milliseconds.")] = None,
    priority: Annotated[
        str | None, typer.Option(help="high, normal, low, or a number (0 runs first).")
    ] = None,
    attempts: Annotated[
        int | None, typer.Option(min=1, help="Runs allowed before the job fails for good.")
    ] = None,
    backoff: Annotated[
        str | None, typer.Option(help="Delay between attempts: exponential:1s or fixed:500ms.")
    ] = None,
    job_id: Annotated[
        str | None, typer.Option(help="Your own id; adding an existing id returns that job.")
    ] = None,
    timeout: Annotated[
        str | None, typer.Option(help="Run-time limit per attempt: 30s, 5m.")
    ] = None,
    keep_completed: Annotated[
        str | None,
        typer.Option(
            help="This job's retention once completed (remove_on_complete), instead of the"
            f" worker's: {parsing.KEEP_SYNTAX}."
        ),
    ] = None,
    keep_failed: Annotated[
        str | None,
        typer.Option(
            help="This job's retention once failed for good (remove_on_fail), the same way."
        ),
    ] = None,
    dedup: Annotated[
        str | None,
        typer.Option(
            help="Dedup id: while a job holds it (until it ends, or --dedup-ttl),"
            " adding another adds nothing and prints the holder's id."
        ),
    ] = None,
    dedup_ttl: Annotated[
        str | None, typer.Option(help="Hold the dedup id this long (10s, 5m), ended or not.")
    ] = None,
    dedup_mode: Annotated[
        DedupChoice,
        typer.Option(
            help="plain; extend (a duplicate restarts --dedup-ttl); replace (debounce: a"
            " holder not started yet is replaced by the new job)."
        ),
    ] = DedupChoice.PLAIN,
    as_json: Annotated[bool, typer.Option("--json", help="Print the job as JSON.")] = False,
) -> None:
    """Add a job and print its id (with --file: every job, one id per line)."""
    if file is not None and (data is not None or job_id is not None):
        raise typer.BadParameter("--file cannot be combined with --data or --job-id")
    options: dict[str, Any] = {}
    if delay is not None:
        options["delay_ms"] = parsing.duration_ms(delay)
    if delay_ms is not None:
        options["delay_ms"] = delay_ms
    if priority is not None:
        options["priority"] = parsing.priority(priority)
    if attempts is not None:
        options["attempts"] = attempts
    if backoff is not None:
        options["backoff"] = parsing.backoff(backoff)
    if job_id is not None:
        options["job_id"] = job_id
    if timeout is not None:
        options["timeout_ms"] = parsing.duration_ms(timeout)
    if keep_completed is not None:
        options["remove_on_complete"] = parsing.keep(keep_completed)
    if keep_failed is not None:
        options["remove_on_fail"] = parsing.keep(keep_failed)
    if dedup is not None:
        ttl_ms = parsing.duration_ms(dedup_ttl) if dedup_ttl is not None else None
        options["dedup"] = {"id": dedup, "ttl_ms": ttl_ms, "mode": dedup_mode.value}
    elif dedup_ttl is not None or dedup_mode is not DedupChoice.PLAIN:
        raise typer.BadParameter("--dedup-ttl and --dedup-mode need --dedup")
    state = runtime(ctx)
    state.require_writable()
    if file is not None:
        payloads = [_validated(queue, name, item) for item in parsing.json_lines(file)]
        ids = state.run(
            lambda client: _add_many(client, state.prefix, queue, name, payloads, options)
        )
        if as_json:
            print_json({"queue": queue, "count": len(ids), "ids": ids})
        else:
            for added in ids:
                print_line(added)
        return

    payload = _validated(queue, name, parsing.json_data(data))

    merged = {**default_options(queue, name, payload), **options}

    async def action(client: redis.asyncio.Redis) -> None:
        job = await Queue(queue, client, prefix=state.prefix).add(name, payload, merged)
        if as_json:
            print_json({**job.to_dict(), "deduplicated": job.deduplicated})
        else:
            print_line(job.id)
        if job.deduplicated:
            warn(f"not added: job {job.id} holds dedup id {dedup}")

    state.run(action)


def _validated(queue: str, name: str, data: Any) -> Any:
    try:
        return validate_payload(queue, name, data)
    except InvalidJobError as exc:
        fail(str(exc), EXIT_FAILED)


async def _add_many(
    client: redis.asyncio.Redis,
    prefix: str,
    queue: str,
    name: str,
    payloads: list[Any],
    options: dict[str, Any],
) -> list[str]:
    """Add in chunks (one script call each) so a bar can follow a large file."""
    target = Queue(queue, client, prefix=prefix)
    ids: list[str] = []
    with progress_bar() as bar:
        task = bar.add_task(f"adding to {visible(queue)}", total=len(payloads))
        for start in range(0, len(payloads), BULK_CHUNK):
            chunk = payloads[start : start + BULK_CHUNK]
            ids.extend(
                await target.add_bulk(
                    BulkJob(name, item, {**default_options(queue, name, item), **options})
                    for item in chunk
                )
            )
            bar.update(task, completed=len(ids))
    return ids
