"""Clients on a sentinel URL reach the master and follow a failover: the
engine's own connection (wire and redis-py) included. `SENTINEL FAILOVER`
demotes a live master, so its stale connections answer READONLY."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio

from engine import Queue, Worker, connect
from engine.channel import WIRE_SWITCH
from engine.connection import check_connection
from engine.context import JobContext
from engine.durability import ReplicaAckTimeout
from tests.helpers import await_until
from tests.sentinel.conftest import SERVICE, SentinelSetup

# Each test waits for three sentinels to find each other (about 2 s) and a failover.
pytestmark = pytest.mark.slow


@pytest.fixture(params=["wire", "redis-py"])
def hot_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(WIRE_SWITCH, "1" if request.param == "wire" else "0")
    return str(request.param)


async def _failover(setup: SentinelSetup) -> int:
    """Demote the master by `SENTINEL FAILOVER`; the new master's port, once the
    old one answers as a replica of it."""
    old = setup.master.port
    with setup.sentinel() as sentinel:
        sentinel.execute_command("SENTINEL", "FAILOVER", SERVICE)

    def every_sentinel_names(port: int) -> bool:
        for index in range(len(setup.sentinel_ports)):
            try:
                with setup.sentinel(index) as client:
                    address = client.sentinel_get_master_addr_by_name(SERVICE)
            except (redis.RedisError, OSError):
                return False
            if not address or int(address[1]) != port:
                return False
        return True

    def switched() -> bool:
        port = setup.master_port()
        # every sentinel: a client may ask any of them, and one that has not
        # heard of the failover yet would send it back to the old master
        if port in (None, old) or not every_sentinel_names(port):  # type: ignore[arg-type]
            return False
        try:
            with setup.master.client(socket_timeout=2) as client:
                return str(client.info("replication").get("role")) == "slave"
        except (redis.RedisError, OSError):  # the role change drops connections
            return False

    await await_until(switched, timeout=20, interval=0.05, message="no failover")
    port = setup.master_port()
    assert port is not None
    return port


async def test_adds_and_workers_follow_a_demoted_master(
    sentinel_setup: SentinelSetup, hot_path: str
) -> None:
    client = connect(sentinel_setup.url)
    ran: list[str] = []

    async def record(ctx: JobContext) -> None:
        ran.append(ctx.job_id)

    try:
        await check_connection(client)
        assert (await client.info("server"))["tcp_port"] == sentinel_setup.master.port
        queue = Queue("q", client)
        worker = Worker("q", client, {"echo": record}, shutdown_grace_ms=2000)
        task = asyncio.create_task(worker.run())
        await queue.add("echo", job_id="before")
        await await_until(lambda: "before" in ran, timeout=10)

        new_port = await _failover(sentinel_setup)
        assert new_port == sentinel_setup.replica.port
        # The producer's connection still points at the demoted master: READONLY,
        # then a reconnect to the new one; the add is not lost nor refused.
        await queue.add("echo", job_id="after")
        async with redis.asyncio.Redis(port=new_port, decode_responses=True) as master:
            assert await master.exists(queue.keys.job("after"))
        await await_until(lambda: "after" in ran, timeout=20, message="worker did not follow")
        worker.request_stop()
        await asyncio.wait_for(task, 15)
    finally:
        await client.aclose()


async def test_an_add_waits_for_its_replica(sentinel_setup: SentinelSetup, hot_path: str) -> None:
    client = connect(sentinel_setup.url)
    try:
        queue = Queue("q", client, replicas=1, replica_timeout_ms=2000)
        job = await queue.add("echo", job_id="durable")
        # Acknowledged: the replica has it the moment add returns.
        async with redis.asyncio.Redis(port=sentinel_setup.replica.port) as replica:
            assert await replica.exists(queue.keys.job(job.id))
        ids = await queue.add_bulk([("echo", {"i": i}) for i in range(5)])
        assert len(ids) == 5
        too_many = Queue("q", client, replicas=2, replica_timeout_ms=100)
        with pytest.raises(ReplicaAckTimeout, match="1 of 2 replica"):
            await too_many.add("echo", job_id="unsure")
        assert await queue.get_job("unsure") is not None  # on the master all the same
    finally:
        await client.aclose()


async def test_a_blocked_command_on_a_demoted_master_is_a_connection_error(
    sentinel_setup: SentinelSetup,
) -> None:
    """A worker's wake-up wait (BZPOPMIN) blocked on the master when it is
    demoted by hand (REPLICAOF: the sentinels' own failover also kills the
    connection) gets `UNBLOCKED`: a connection error, so the caller backs off
    and reconnects, not a command error that ends its loop."""
    client = connect(sentinel_setup.url, retries=0)
    try:
        blocked = asyncio.create_task(client.bzpopmin(["marker"], timeout=20))
        with sentinel_setup.master.client() as master:

            def waiting() -> bool:
                return any(entry.get("cmd") == "bzpopmin" for entry in master.client_list())

            await await_until(waiting, timeout=10)
            with sentinel_setup.replica.client() as replica:
                replica.execute_command("REPLICAOF", "NO", "ONE")
            master.execute_command("REPLICAOF", "127.0.0.1", str(sentinel_setup.replica.port))
        with pytest.raises(redis.exceptions.ConnectionError, match="demoted"):
            await asyncio.wait_for(blocked, 10)
    finally:
        await client.aclose()
