"""The overview lists a sharded queue's shards as rows and its total below."""

from __future__ import annotations

import redis.asyncio
from textual.widgets import Static

from engine.sharded import ShardedQueue
from messai_console.tui.screens.overview import OverviewScreen
from tests.helpers import await_until
from tests.tui.support import console, wait_for_rows, wait_for_screen


async def test_the_overview_shows_each_shard_and_the_sharded_total(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    hot = await ShardedQueue.create("hot", redis_client, shards=3)
    for index in range(7):
        await hot.add("echo", index)
    await hot.add("echo", 7, delay_ms=3_600_000)
    app = console(redis_url, readonly=True)
    async with app.run_test(size=(160, 40)):
        overview = await wait_for_screen(app, OverviewScreen)
        await wait_for_rows(overview.table, 3)
        assert [q.name for q in overview.overview.queues] == ["hot~0", "hot~1", "hot~2"]
        totals = overview.query_one("#totals", Static)
        await await_until(lambda: "hot (3 shards)" in str(totals.render()))
        line = next(
            row for row in str(totals.render()).splitlines() if row.startswith("hot (3 shards)")
        )
        assert "waiting 7" in line and "delayed 1" in line, line
