"""A reader client (`connect_reader`, `read_from_replica=1`) reads on a replica;
writes over `connect` with the same URL still go to the master."""

from __future__ import annotations

import pytest

from engine import Queue, connect
from engine.connection import connect_reader
from engine.replicas import (
    reader_role,
    wants_replica,
    with_replica_option,
    without_replica_option,
)
from tests.replicas.conftest import CONNECTION_COMMANDS, Replicated, SentinelSetup


def test_the_url_option_is_read_and_stripped() -> None:
    url = "redis://u:pw@127.0.0.1:7000/2?socket_timeout=3&read_from_replica=1"
    assert wants_replica(url)
    assert without_replica_option(url) == "redis://u:pw@127.0.0.1:7000/2?socket_timeout=3"
    assert not wants_replica("redis://127.0.0.1:7000/0?read_from_replica=0")
    assert not wants_replica("redis://127.0.0.1:7000/0")
    assert wants_replica(with_replica_option("redis://127.0.0.1:7000/0?socket_timeout=3"))
    with pytest.raises(ValueError, match="read_from_replica"):
        wants_replica("redis://127.0.0.1:7000/0?read_from_replica=maybe")


async def test_reads_go_to_the_replica_and_writes_to_the_master(replicated: Replicated) -> None:
    url = with_replica_option(replicated.master.url)
    writer = connect(url, retries=1)  # the option is ignored for writes
    reader = connect_reader(url, retries=1)
    try:
        queue = Queue("papers", writer)
        ids = [(await queue.add("extract", {"n": n})).id for n in range(5)]
        replicated.synced()
        before = replicated.commandstats(replicated.master)
        reading = Queue("papers", reader)
        assert await reader_role(reader) == "replica"
        counts = await reading.counts()
        assert counts["waiting"] == 5
        jobs = await reading.get_jobs("waiting", 0, -1)
        assert sorted(job.id for job in jobs) == sorted(ids)
        assert (await reading.get_job(ids[0])) is not None
        after = replicated.commandstats(replicated.master)
        # Nothing the reads sent reached the master: only the reader's look-up of
        # the replicas (INFO, and the handshake of its connection).
        changed = {name for name, calls in after.items() if calls != before.get(name, 0)}
        assert changed <= CONNECTION_COMMANDS, changed
        stats = replicated.commandstats(replicated.replica)
        assert stats.get("fcall_ro", 0) + stats.get("evalsha", 0) + stats.get("eval", 0) >= 1
        await queue.add("extract", {"n": 5})
        with replicated.master.client() as master:
            assert (
                master.llen("messai:{papers}:waiting:list")
                + master.zcard("messai:{papers}:waiting")
                == 6
            )
    finally:
        await reader.aclose()
        await writer.aclose()


async def test_a_reader_without_an_online_replica_reads_on_the_master(
    redis_url: str,
) -> None:
    reader = connect_reader(with_replica_option(redis_url), retries=1)
    try:
        assert await reader_role(reader) == "master"
        assert await reader.dbsize() == 0
    finally:
        await reader.aclose()


async def test_a_sentinel_reader_reads_on_the_replica(sentinel_setup: SentinelSetup) -> None:
    url = with_replica_option(sentinel_setup.url)
    writer = connect(url, retries=1)
    reader = connect_reader(url, retries=1)
    try:
        await Queue("papers", writer).add("extract", {})
        assert await reader_role(reader) == "replica"
        address = reader.connection_pool.connection_kwargs
        assert address is not None
        with sentinel_setup.replica.client() as replica:
            assert replica.info("replication")["role"] == "slave"
    finally:
        await reader.aclose()
        await writer.aclose()
