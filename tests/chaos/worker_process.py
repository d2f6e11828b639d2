"""A chaos worker process built on the engine alone (no console, no job catalog):
``python -m tests.chaos.worker_process --url URL --queue Q [options]``.

It says ``worker <id> serving`` on stderr once it serves, like the CLI worker,
and stops like it: first SIGTERM graceful, second at once.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from engine import Keep, Worker
from engine.connection import connect
from tests.chaos.processors import registry


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="chaos-worker")
    parser.add_argument("--url", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--lease-ms", type=int, default=1000)
    parser.add_argument("--stall-interval-ms", type=int, default=250)
    parser.add_argument("--max-stalled", type=int, default=1)
    parser.add_argument("--shutdown-grace-ms", type=int, default=2000)
    parser.add_argument("--prefetch", default="auto", help="auto or a number")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    client = connect(args.url)
    try:
        worker = Worker(
            args.queue,
            client,
            registry,
            concurrency=args.concurrency,
            lease_ms=args.lease_ms,
            stall_interval_ms=args.stall_interval_ms,
            max_stalled=args.max_stalled,
            shutdown_grace_ms=args.shutdown_grace_ms,
            prefetch=None if args.prefetch == "auto" else int(args.prefetch),
            # the checker reads every finished job back: keep them all
            keep_completed=Keep(),
            keep_failed=Keep(),
            worker_id=f"chaos:{os.getpid()}",
        )
        worker.install_signal_handlers()
        print(f"worker {worker.id} serving {args.queue}", file=sys.stderr, flush=True)
        await worker.run()
        print(f"worker {worker.id} stopped", file=sys.stderr, flush=True)
    finally:
        await client.aclose()


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )
    asyncio.run(_serve(_parse(argv)))


if __name__ == "__main__":
    main()
