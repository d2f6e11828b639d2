"""The connection that jobs are added over: one per client and event loop,
shared by every queue on the client, closed with it, and replaced when the
server went away, with the client's own timeout and retry policy.

The tests of its connections (how many, when closed) are about the
hand-written one and pin ``MESSAI_WIRE=1``; the tests of what an add does
run with both implementations, whatever the environment says.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import signal
import subprocess
import warnings
from pathlib import Path

import pytest
import redis
import redis.asyncio
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from engine import Queue
from engine.connection import connect
from engine.sync import SyncQueue
from engine.wire import SharedChannel, shared_channel
from tests.helpers import EmbeddedServer, RedisFactory, await_until, find_free_port, wait_until


@pytest.fixture(autouse=True, params=["wire"])
def wire_switch(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``MESSAI_WIRE`` for the test: "wire" unless parametrized with "plain" too."""
    monkeypatch.setenv("MESSAI_WIRE", "1" if request.param == "wire" else "0")
    return str(request.param)


both_implementations = pytest.mark.parametrize("wire_switch", ["wire", "plain"], indirect=True)


def _clients(server: EmbeddedServer) -> int:
    """Connections the server has open, not counting the one asking."""
    with server.client() as observer:
        return len(observer.client_list()) - 1


async def _connections_become(server: EmbeddedServer, count: int) -> None:
    await await_until(
        lambda: _clients(server) == count,
        message=f"the server did not come to {count} connections (has {_clients(server)})",
    )


async def test_queues_on_one_client_share_one_pipelined_connection(
    redis_factory: RedisFactory,
) -> None:
    server = redis_factory()
    client = redis.asyncio.Redis.from_url(server.url, decode_responses=True)
    first, second = Queue("first", client), Queue("second", client)
    try:
        jobs = await asyncio.gather(
            *(first.add("noop", {"i": i}) for i in range(100)),
            *(second.add("noop", {"i": i}) for i in range(100)),
        )
        numbers = [int(job.id) for job in jobs]
        assert sorted(numbers[:100]) == sorted(numbers[100:]) == list(range(1, 101))
        assert _clients(server) == 1  # adds use no connection of redis-py's pool
        assert (await first.counts())["waiting"] == (await second.counts())["waiting"] == 100
    finally:
        await first.aclose()
        await client.aclose()
    await _connections_become(server, 0)


async def test_queue_aclose_closes_the_connection_and_the_next_add_opens_one(
    redis_factory: RedisFactory,
) -> None:
    server = redis_factory()
    client = redis.asyncio.Redis.from_url(server.url, decode_responses=True)
    queue, other = Queue("q", client), Queue("other", client)
    try:
        await queue.add("noop")
        channel = shared_channel(client)
        await queue.aclose()
        await _connections_become(server, 0)
        assert (await other.add("noop")).id == "1"
        assert shared_channel(client) is not channel
        assert _clients(server) == 1
    finally:
        await other.aclose()
        await client.aclose()
    await _connections_become(server, 0)


async def test_closing_a_client_from_connect_closes_its_connection(
    redis_factory: RedisFactory,
) -> None:
    server = redis_factory()
    async with connect(server.url) as client:
        await Queue("q", client).add("noop")
        assert _clients(server) == 1
    await _connections_become(server, 0)


async def test_a_dropped_client_takes_its_connection_along(redis_factory: RedisFactory) -> None:
    server = redis_factory()
    client = redis.asyncio.Redis.from_url(server.url, decode_responses=True)
    await Queue("q", client).add("noop")
    await client.aclose()  # closes redis-py's pool, not the engine's connection
    assert _clients(server) == 1
    del client
    gc.collect()
    await _connections_become(server, 0)


def test_the_connection_ends_with_its_event_loop_without_warnings(
    redis_factory: RedisFactory,
) -> None:
    server = redis_factory()

    async def add_and_leave_open() -> redis.asyncio.Redis:
        client = redis.asyncio.Redis.from_url(server.url, decode_responses=True)
        await Queue("q", client).add("noop")
        await client.aclose()  # redis-py's pool only
        return client  # alive past the loop: only the loop's end can close the connection

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = asyncio.run(add_and_leave_open())
        gc.collect()
        del client
        gc.collect()
    assert [str(w.message) for w in caught] == []
    wait_until(lambda: _clients(server) == 0, message="the connection outlived its loop")


def test_sync_queue_closes_its_connections(redis_factory: RedisFactory) -> None:
    server = redis_factory()
    with SyncQueue("sync", server.url) as queue:
        assert queue.add("noop").id == "1"
        assert _clients(server) == 1
    wait_until(lambda: _clients(server) == 0, message="SyncQueue left a connection open")


async def test_adds_work_again_after_a_redis_restart(redis_factory: RedisFactory) -> None:
    server = redis_factory()
    # A plain client retries nothing: the idle connection that the dead server
    # closed must be noticed and replaced before the add is sent. (redis-py's
    # own pool, with MESSAI_WIRE=0, fails that first command as redis-py does:
    # clients from engine.connect retry it.)
    client = redis.asyncio.Redis.from_url(server.url, decode_responses=True)
    queue = Queue("restarted", client)
    try:
        await queue.add("noop")
        os.kill(server.pid, signal.SIGKILL)
        wait_until(lambda: not server.is_running(), message="redis-server survived SIGKILL")
        redis_factory(port=server.port)
        job = await queue.add("noop")  # the new server also lacks the script
        assert (await queue.get_job(job.id)) is not None
    finally:
        await queue.aclose()
        await client.aclose()


@pytest.mark.parametrize(("retries", "attempts"), [(None, 1), (0, 1), (2, 3)])
async def test_an_add_while_redis_is_down_follows_the_client_retry_policy(
    monkeypatch: pytest.MonkeyPatch, retries: int | None, attempts: int
) -> None:
    url = f"redis://127.0.0.1:{find_free_port()}/0"
    client = (
        redis.asyncio.Redis.from_url(url, decode_responses=True)
        if retries is None
        else connect(url, retries=retries)
    )
    connects = 0
    original = SharedChannel._connect

    async def counting(self: SharedChannel) -> None:
        nonlocal connects
        connects += 1
        await original(self)

    monkeypatch.setattr(SharedChannel, "_connect", counting)
    try:
        with pytest.raises(RedisConnectionError, match="cannot connect to Redis"):
            await Queue("down", client).add("noop")
    finally:
        await client.aclose()
    assert connects == attempts


@both_implementations
async def test_a_reply_slower_than_socket_timeout_is_a_timeout_and_drops_the_connection(
    redis_factory: RedisFactory,
) -> None:
    server = redis_factory()
    client = connect(server.url, retries=0, socket_timeout=0.2)
    queue = Queue("slow", client)
    try:
        await queue.add("noop")
        connections = _clients(server)  # redis-py may have used two to load the script
        os.kill(server.pid, signal.SIGSTOP)
        try:
            with pytest.raises(RedisTimeoutError):
                await queue.add("noop")
        finally:
            os.kill(server.pid, signal.SIGCONT)
        job = await queue.add("noop")  # on a new connection
        assert job.id in ("2", "3")  # the add that timed out may have run when the server woke
        await _connections_become(server, connections)
    finally:
        await client.aclose()


@both_implementations
async def test_unix_socket_password_and_database_come_from_the_client(
    redis_factory: RedisFactory,
) -> None:
    server = redis_factory(unix_socket=True, password="s3cret")
    client = connect(server.url, db=3)
    try:
        await Queue("settings", client).add("noop")
    finally:
        await client.aclose()
    with server.client(db=3) as in_db3, server.client(db=0) as in_db0:
        assert in_db3.exists(Queue("settings", client).keys.job("1")) == 1
        assert in_db0.dbsize() == 0


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert),
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl for a certificate")
@both_implementations
async def test_tls_verifies_the_server_as_the_client_does(
    redis_factory: RedisFactory, tmp_path: Path
) -> None:
    cert, key = _self_signed_certificate(tmp_path)
    tls_port = find_free_port()
    redis_factory(
        extra_args=[
            "--tls-port", str(tls_port), "--tls-cert-file", str(cert),
            "--tls-key-file", str(key), "--tls-auth-clients", "no",
        ]
    )  # fmt: skip
    # No ssl_cert_reqs: the URL's scheme alone asks for verified TLS.
    client = connect(f"rediss://127.0.0.1:{tls_port}/0?ssl_ca_certs={cert}")
    try:
        queue = Queue("tls", client)
        assert (await queue.add("noop")).id == "1"
        assert await queue.add_bulk([("noop", None)] * 3) == ["2", "3", "4"]
    finally:
        await client.aclose()
    wrong_name = connect(f"rediss://localhost:{tls_port}/0?ssl_ca_certs={cert}", retries=0)
    try:
        with pytest.raises(RedisConnectionError, match="certificate verify failed"):
            await Queue("tls", wrong_name).add("noop")
    finally:
        await wrong_name.aclose()
