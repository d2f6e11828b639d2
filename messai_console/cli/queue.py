"""``messai-console queue ...``: queue statistics and administration."""

from __future__ import annotations

from typing import Annotated

import redis.asyncio
import typer

from engine.keys import STATES
from engine.limits import QueueLimits
from engine.monitor import all_queue_stats
from engine.sharded import ShardedQueue, ShardingError, shard_count, sum_counts
from messai_console.cli import parsing
from messai_console.cli.completion import queue_names
from messai_console.cli.output import format_duration_ms, print_json, print_line, print_table
from messai_console.cli.parsing import CleanableState
from messai_console.cli.progress import watched
from messai_console.cli.runtime import EXIT_USAGE, confirm, fail, runtime
from messai_console.text import visible

app = typer.Typer(help="Inspect and administer queues.", no_args_is_help=True)

Queue_ = Annotated[str, typer.Argument(help="Queue name.", autocompletion=queue_names)]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (needed off a terminal).")]


@app.command("list")
def list_queues(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON: one object per queue, with its name.")
    ] = False,
) -> None:
    """Every queue with its jobs per state and whether it is paused."""
    state = runtime(ctx)

    async def action(client: redis.asyncio.Redis) -> None:
        per_queue = await all_queue_stats(client, state.prefix)
        if as_json:
            print_json([{"name": name, **stats} for name, stats in per_queue.items()])
            return
        print_table(
            ["queue", *STATES, "paused"],
            [
                [name, *(stats[s] for s in STATES), "yes" if stats["paused"] else ""]
                for name, stats in per_queue.items()
            ],
            title=f"{len(per_queue)} queues",
        )

    state.read(action)


@app.command("stats")
def stats(
    ctx: typer.Context,
    queue: Queue_,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print JSON: counts per state, paused, rate_limit, global_concurrency"
            " and waiting_by_priority.",
        ),
    ] = False,
) -> None:
    """Jobs per state, whether the queue is paused, its limits and its waiting jobs per priority."""
    state = runtime(ctx)

    async def action(client: redis.asyncio.Redis) -> None:
        if await shard_count(client, queue, state.prefix) is not None:
            await sharded_stats(client, queue, state.prefix, as_json)
            return
        q = await state.existing_queue(client, queue)
        counts = await q.stats()
        limits = await q.limits()
        by_priority = await q.counts_by_priority()
        if as_json:
            print_json(
                {
                    **counts,
                    **limits.to_dict(),
                    "waiting_by_priority": {str(p): n for p, n in by_priority.items()},
                }
            )
            return
        rows: list[list[object]] = [[name, value] for name, value in counts.items()]
        rows.append(["rate limit", describe_rate_limit(limits)])
        rows.append(["global concurrency", limits.global_concurrency or "none"])
        rows.extend([f"waiting, priority {p}", n] for p, n in by_priority.items())
        print_table(["state", "jobs"], rows, title=f"queue {queue}")

    state.read(action)


async def sharded_stats(client: redis.asyncio.Redis, name: str, prefix: str, as_json: bool) -> None:
    """The counts of a sharded queue: the total and each shard's."""
    hot = await ShardedQueue.open(name, client, prefix=prefix)
    per_shard = await hot.shard_counts()
    total = sum_counts(per_shard)
    if as_json:
        print_json(
            {
                **total,
                "shards": {q.name: counts for q, counts in zip(hot.shards, per_shard, strict=True)},
            }
        )
        return
    rows: list[list[object]] = [["total", *(total[s] for s in STATES)]]
    rows.extend(
        [q.name, *(counts[s] for s in STATES)]
        for q, counts in zip(hot.shards, per_shard, strict=True)
    )
    print_table(["shard", *STATES], rows, title=f"sharded queue {name}: {len(hot.shards)} shards")


def describe_rate_limit(limits: QueueLimits) -> str:
    rate = limits.rate_limit
    if rate is None:
        return "none"
    return f"{rate.max_starts} per {format_duration_ms(rate.duration_ms)}"


@app.command("limit")
def limit(
    ctx: typer.Context,
    queue: Queue_,
    max_starts: Annotated[
        int | None,
        typer.Option("--max", min=1, help="At most this many job starts per window."),
    ] = None,
    per: Annotated[str, typer.Option(help="The window: 500ms, 1s, 1m.")] = "1s",
    clear: Annotated[bool, typer.Option("--clear", help="Remove the rate limit.")] = False,
) -> None:
    """Cap how many jobs of the queue start per window, across all workers."""
    if (max_starts is None) == (not clear):
        raise typer.BadParameter("give exactly one of --max and --clear")
    window_ms = parsing.duration_ms(per)
    if window_ms < 1:
        raise typer.BadParameter("--per must be at least 1ms")
    state = runtime(ctx)
    state.require_writable()

    async def action(client: redis.asyncio.Redis) -> None:
        q = await state.existing_queue(client, queue)
        await q.set_rate_limit(None if clear else max_starts, window_ms)
        described = describe_rate_limit(await q.limits())
        print_line(f"queue {visible(repr(queue))} rate limit: {described}")

    state.run(action)


@app.command("concurrency")
def concurrency(
    ctx: typer.Context,
    queue: Queue_,
    cap: Annotated[
        int | None, typer.Argument(min=1, help="At most this many running jobs.")
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the cap.")] = False,
) -> None:
    """Cap how many jobs of the queue run at once, across all workers."""
    if (cap is None) == (not clear):
        raise typer.BadParameter("give exactly one of a number and --clear")
    state = runtime(ctx)
    state.require_writable()

    async def action(client: redis.asyncio.Redis) -> None:
        q = await state.existing_queue(client, queue)
        await q.set_global_concurrency(None if clear else cap)
        now = (await q.limits()).global_concurrency
        print_line(f"queue {visible(repr(queue))} global concurrency: {now or 'none'}")

    state.run(action)


@app.command("shard")
def shard(
    ctx: typer.Context,
    queue: Annotated[str, typer.Argument(help="Name of the sharded queue.")],
    shards: Annotated[int, typer.Option("--shards", "-n", help="How many shards.")],
) -> None:
    """Create a sharded queue: its jobs spread over SHARDS queues QUEUE~0 ..
    (order holds within a shard only). Again with the same count does nothing."""
    state = runtime(ctx)
    state.require_writable()

    async def action(client: redis.asyncio.Redis) -> None:
        try:
            hot = await ShardedQueue.create(queue, client, shards, prefix=state.prefix)
        except (ShardingError, ValueError) as exc:
            fail(str(exc), EXIT_USAGE)
        names = ", ".join(visible(q.name) for q in hot.shards)
        print_line(f"sharded queue {visible(repr(queue))}: {names}")

    state.run(action)


@app.command("pause")
def pause(ctx: typer.Context, queue: Queue_) -> None:
    """Stop workers from starting jobs of the queue (running ones finish)."""
    state = runtime(ctx)
    state.require_writable()

    async def action(client: redis.asyncio.Redis) -> None:
        await (await state.existing_queue(client, queue)).pause()
        print_line(f"queue {visible(repr(queue))} paused")

    state.run(action)


@app.command("resume")
def resume(ctx: typer.Context, queue: Queue_) -> None:
    """Let workers start jobs of the queue again."""
    state = runtime(ctx)
    state.require_writable()

    async def action(client: redis.asyncio.Redis) -> None:
        await (await state.existing_queue(client, queue)).resume()
        print_line(f"queue {visible(repr(queue))} resumed")

    state.run(action)


@app.command("drain")
def drain(ctx: typer.Context, queue: Queue_, yes: Yes = False) -> None:
    """Remove every waiting and delayed job (running jobs finish)."""
    state = runtime(ctx)
    state.require_writable()

    async def action(client: redis.asyncio.Redis) -> None:
        q = await state.existing_queue(client, queue)
        counts = await q.counts()
        queued = counts["waiting"] + counts["delayed"]
        confirm(f"remove the {queued} waiting and delayed jobs of queue {queue!r}", yes)

        async def removed_so_far() -> int:
            now = await q.counts()
            return queued - now["waiting"] - now["delayed"]

        async with watched(f"draining {queue}", queued, removed_so_far):
            removed = await q.drain()
        print_line(f"removed {removed} waiting and delayed jobs from queue {visible(repr(queue))}")

    state.run(action)


@app.command("clean")
def clean(
    ctx: typer.Context,
    queue: Queue_,
    job_state: Annotated[
        CleanableState, typer.Option("--state", "-s", help="Delete jobs in this state.")
    ],
    grace: Annotated[
        str,
        typer.Option(help="Keep jobs younger than this (finished ones by finish time): 1h, 7d."),
    ] = "0",
    limit: Annotated[int, typer.Option(min=0, help="Delete at most this many (0: all).")] = 0,
    yes: Yes = False,
) -> None:
    """Delete old jobs of one state, with their logs."""
    grace_ms = parsing.duration_ms(grace)
    state = runtime(ctx)
    state.require_writable()
    name = job_state.value

    async def action(client: redis.asyncio.Redis) -> None:
        q = await state.existing_queue(client, queue)
        present = (await q.counts())[name]
        scope = f"up to {limit} of the" if limit else "the"
        confirm(f"delete {scope} {present} {name} jobs of queue {queue!r} older than {grace}", yes)

        async def deleted_so_far() -> int:
            return present - (await q.counts())[name]

        total = min(present, limit) if limit else present
        async with watched(f"cleaning {queue}", total, deleted_so_far):
            removed = await q.clean(name, grace_ms, limit)
        print_line(f"deleted {removed} {name} jobs from queue {visible(repr(queue))}")

    state.run(action)


@app.command("obliterate")
def obliterate(
    ctx: typer.Context,
    queue: Queue_,
    force: Annotated[
        bool, typer.Option("--force", help="Even while jobs are running (their results are lost).")
    ] = False,
    yes: Yes = False,
) -> None:
    """Delete the queue: every job, log, event, metric and setting, and its schedules."""
    state = runtime(ctx)
    state.require_writable()

    async def action(client: redis.asyncio.Redis) -> None:
        q = await state.existing_queue(client, queue)
        total = sum((await q.counts()).values())
        confirm(f"delete queue {queue!r} and its {total} jobs for good", yes)
        schedules = await q.obliterate(force=force)
        plural = "" if schedules == 1 else "s"
        print_line(
            f"queue {visible(repr(queue))} obliterated; removed {schedules} schedule{plural}"
        )

    state.run(action)
