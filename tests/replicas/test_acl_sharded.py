"""A sharded queue under the least-privilege users: the producer creates it
and adds, the worker serves its shards, the console reads its total."""

from __future__ import annotations

import asyncio
import time

from engine import JobContext, Worker, connect
from engine.sharded import ShardedQueue, expand_queue_names
from messai_console.tui.backend import Backend
from tests.helpers import await_until
from tests.replicas.test_acl import EXPECTED_DENIALS, AclServer, acl_server

__all__ = ["acl_server"]


async def test_each_role_does_its_part_on_a_sharded_queue(acl_server: AclServer) -> None:
    producer = connect(acl_server.url("producer"), retries=1)
    worker_client = connect(acl_server.url("worker"), retries=1)
    try:
        hot = await ShardedQueue.create("hot", producer, shards=3)
        for index in range(9):
            await hot.add("double", index)
        ran: list[int] = []

        async def double(ctx: JobContext) -> int:
            ran.append(ctx.data)
            return int(ctx.data) * 2

        names = await expand_queue_names(worker_client, ["hot"])
        worker = Worker(names, worker_client, {"double": double}, concurrency=3)
        task = asyncio.create_task(worker.run())
        try:
            await await_until(lambda: len(ran) == 9, timeout=30, interval=0.05)
        finally:
            worker.request_stop()
            await asyncio.wait_for(task, 30)
        backend = Backend(acl_server.url("console"), "messai")
        try:
            overview = await backend.overview(int(time.time() * 1000))
            assert overview.sharded["hot"].shards == 3
            assert overview.sharded["hot"].counts["completed"] == 9
        finally:
            await backend.close()
        unexpected = [entry for entry in acl_server.denials() if entry not in EXPECTED_DENIALS]
        assert unexpected == []
    finally:
        for client in (producer, worker_client):
            await client.aclose()
