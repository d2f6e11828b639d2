"""Where a worker's time goes: cProfile of one worker draining a queue in-process.

    python -m messai_console.bench.profile_worker --redis-url URL \\
        [--workload redis_call] [--concurrency 50] [--jobs 20000] [--loop asyncio] \\
        [--prefetch N]

Fills a throwaway queue, runs a Worker with the benchmark's processors on
the chosen loop under cProfile until the queue is empty, prints the jobs
per second (slower than without the profiler) and the top functions by
their own time and by cumulative time. The queue is removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import time
import uuid

from engine.connection import connect
from engine.queue import BulkJob, Queue
from engine.worker import Worker
from messai_console.bench import workloads
from messai_console.cli.loops import running_on

PREFIX = "messai-profile"


async def drain(
    url: str, workload: str, concurrency: int, jobs: int, profile: bool, prefetch: int | None
) -> str:
    os.environ[workloads.URL_VARIABLE] = url
    client = connect(url)  # a cluster client on a redis+cluster:// URL
    queue = Queue(f"profile-{uuid.uuid4().hex[:8]}", client, prefix=PREFIX)
    profiler = cProfile.Profile()
    try:
        for start in range(0, jobs, 10_000):
            payload = {"blob": "x" * 188}
            await queue.add_bulk([BulkJob(workload, payload)] * min(10_000, jobs - start))
        worker = Worker(
            [queue.name],
            client,
            workloads.registry,
            concurrency=concurrency,
            prefix=PREFIX,
            prefetch=prefetch,
        )
        running = asyncio.create_task(worker.run())
        began = time.perf_counter()
        if profile:
            profiler.enable()
        while True:
            counts = await queue.counts()
            if counts["waiting"] + counts["active"] == 0:
                break
            await asyncio.sleep(0.01)
        profiler.disable()
        elapsed = time.perf_counter() - began
        worker.request_stop()
        await running
        out = io.StringIO()
        out.write(f"{jobs / elapsed:,.0f} jobs/s ({workload}, concurrency {concurrency})\n")
        if profile:
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumulative").print_stats(30)
        return out.getvalue()
    finally:
        await queue.obliterate(force=True)
        await client.delete(workloads.COUNTER_KEY)
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--workload", default="redis_call", choices=workloads.WORKLOADS)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--loop", default="asyncio", choices=["asyncio", "uvloop"])
    parser.add_argument(
        "--prefetch", type=int, default=None, help="The worker's prefetch (default: auto)."
    )
    parser.add_argument("--no-profile", action="store_true", help="Only the rate.")
    args = parser.parse_args()
    with running_on(args.loop):
        print(
            asyncio.run(
                drain(
                    args.redis_url,
                    args.workload,
                    args.concurrency,
                    args.jobs,
                    not args.no_profile,
                    args.prefetch,
                )
            )
        )


if __name__ == "__main__":
    main()
