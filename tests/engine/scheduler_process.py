"""A scheduler process for tests: ``python -m tests.engine.scheduler_process URL``."""

from __future__ import annotations

import asyncio
import signal
import sys

from engine.connection import connect
from engine.schedules import Scheduler


async def main(url: str) -> None:
    client = connect(url)  # a redis:// URL, or tests/cluster's redis+cluster://
    scheduler = Scheduler(client, poll_s=0.1)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, scheduler.request_stop)
    print("scheduler running", flush=True)
    await scheduler.run()
    await client.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
