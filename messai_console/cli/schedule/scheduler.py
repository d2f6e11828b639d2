"""``messai-console scheduler``: fire due schedules in the foreground."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Annotated

import typer

from engine.connection import check_connection, connect
from engine.schedules import Scheduler
from messai_console.cli.runtime import runtime


def scheduler(
    ctx: typer.Context,
    poll_ms: Annotated[
        int, typer.Option(min=50, help="Longest pause between looks at due schedules.")
    ] = 500,
) -> None:
    """Fire due schedules until SIGTERM or Ctrl-C. Any number may run: each tick fires once."""
    state = runtime(ctx)
    url = state.url()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )

    async def main() -> None:
        client = connect(url)
        try:
            await check_connection(client)
            from messai_console.jobs.scheduled import init_if_enabled  # loads the catalog

            for name, outcome in await init_if_enabled(client, state.prefix):
                logging.info("scheduled task %s %s", name, outcome)
            instance = Scheduler(client, state.prefix, poll_s=poll_ms / 1000)
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, instance.request_stop)
            print("scheduler running", file=sys.stderr, flush=True)
            await instance.run()
            print(
                f"scheduler stopped after firing {instance.fired} ticks",
                file=sys.stderr,
                flush=True,
            )
        finally:
            await client.aclose()

    state.run_async(main)
