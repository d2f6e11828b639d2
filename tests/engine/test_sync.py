"""The blocking facade does what the async Queue does."""

from __future__ import annotations

import redis

from engine.sync import SyncQueue


def test_sync_queue_adds_and_administers(redis_url: str) -> None:
    with SyncQueue("sync-queue", redis_url) as queue:
        job = queue.add("echo", {"x": 1}, priority="high")
        assert queue.get_job(job.id).data == {"x": 1}  # type: ignore[union-attr]
        assert len(queue.add_bulk([("noop", None)] * 5)) == 5
        queue.pause()
        assert queue.stats()["paused"] is True and queue.counts()["waiting"] == 6
        assert queue.drain() == 6
        queue.obliterate()
    with redis.Redis.from_url(redis_url) as client:
        assert client.dbsize() == 0
