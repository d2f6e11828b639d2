"""The engine's hot-path connection: request packing, the one reload path
over both implementations, the ``MESSAI_WIRE`` switch, and other event loops."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio
import uvloop

import engine.scripts as scripts_module
from engine import Queue, Worker
from engine.channel import Channel, close_shared_channel, shared_channel
from engine.contracts.reads import GetJobsRequest
from engine.plain_channel import PlainChannel, SingleTryChannel
from engine.scripts import BoundScript, scripts
from engine.wire import SharedChannel, WireChannel, encode_arg, pack, pack_args
from tests.helpers import RedisFactory, await_until
from tests.loops import LOOP_FACTORIES

CHANNELS = [WireChannel, SingleTryChannel, PlainChannel]


def test_pack_args_gives_the_bytes_of_encode_arg() -> None:
    values: list[Any] = [
        "",
        "noop",
        "é ✓ 𝄞",
        '{"blob": "' + "x" * 5000 + '"}',
        b"\x00\xff",
        0,
        -3,
        2**70,
        0.1,
        1e20,
        -0.0,
        float("inf"),
        True,  # hiredis refuses bools; they are packed as before ("True")
    ]
    for value in values:
        assert pack_args([value]) == encode_arg(value), value
    assert pack_args(values) == b"".join(map(encode_arg, values))
    assert pack_args([]) == b""


async def _get_job(bound: BoundScript, channel: Channel, queue: Queue, job_id: str) -> list[Any]:
    """``get_jobs`` for one id: a read-only script with a reply to check."""
    reply: list[Any] = await bound(
        channel, GetJobsRequest.by_ids(job_id).full_argv(queue.keys.base)
    )
    return reply[4:6]


async def _calls(client: redis.asyncio.Redis, command: str) -> int:
    """How often ``command`` reached the server since CONFIG RESETSTAT (its
    ``calls`` include the failed ones, not the ones refused before running)."""
    stats = (await client.info("commandstats")).get(f"cmdstat_{command}", {})
    return int(stats.get("calls", 0)) + int(stats.get("rejected_calls", 0))


@pytest.mark.parametrize("kind", CHANNELS)
async def test_a_flushed_function_is_loaded_again_while_the_call_runs_with_eval(
    redis_client: redis.asyncio.Redis, queue: Queue, kind: type[Channel]
) -> None:
    job = await queue.add("noop")
    script = scripts().get_jobs
    bound = BoundScript(script, queue.keys.script_keys)
    channel = kind(redis_client)
    try:
        assert await _get_job(bound, channel, queue, job.id) == [job.id, "waiting"]
        await redis_client.function_flush()
        await redis_client.config_resetstat()
        assert await _get_job(bound, channel, queue, job.id) == [job.id, "waiting"]
        assert await _calls(redis_client, "eval") == 1
        assert await _calls(redis_client, "function|load") == 1
        assert await redis_client.function_list(library=script.function)
        assert await _get_job(bound, channel, queue, job.id) == [job.id, "waiting"]
        assert await _calls(redis_client, "eval") == 1  # loaded: FCALL again
        assert await _calls(redis_client, "fcall_ro") == 2  # get_jobs is no-writes
    finally:
        await channel.close()


@pytest.mark.parametrize("kind", CHANNELS)
async def test_a_user_without_functions_gets_evalsha_and_eval_after_a_script_flush(
    redis_factory: RedisFactory, monkeypatch: pytest.MonkeyPatch, kind: type[Channel]
) -> None:
    monkeypatch.setattr(scripts_module, "_NO_FUNCTIONS", set())
    server = redis_factory()
    with server.client() as admin:
        admin.acl_setuser(
            "producer",
            enabled=True,
            passwords=["+pw"],
            keys=["*"],
            channels=["*"],
            categories=["+@all"],
            commands=["-fcall", "-fcall_ro", "-function"],
        )
    client = redis.asyncio.Redis(
        port=server.port, username="producer", password="pw", decode_responses=True
    )
    queue = Queue("limited", client)
    channel = kind(client)
    bound = BoundScript(scripts().get_jobs, queue.keys.script_keys)
    try:
        nothing = await bound(channel, GetJobsRequest.by_ids("none").full_argv(queue.keys.base))
        assert nothing == [0, 0, 1, []]  # next_rank, missing, ended, ghosts; no job
        assert channel.address in scripts_module._NO_FUNCTIONS
        job = await queue.add("noop")
        assert await _get_job(bound, channel, queue, job.id) == [job.id, "waiting"]
        await client.script_flush()
        await client.config_resetstat()
        assert await _get_job(bound, channel, queue, job.id) == [job.id, "waiting"]
        assert await _get_job(bound, channel, queue, job.id) == [job.id, "waiting"]
        assert await _calls(client, "evalsha") == 2
        assert await _calls(client, "eval") == 1
        assert await _calls(client, "fcall") == 0
    finally:
        await channel.close()
        await queue.aclose()
        await client.aclose()


async def test_the_switch_picks_the_implementation(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MESSAI_WIRE", raising=False)
    first = redis.asyncio.Redis.from_url(redis_url)
    second = redis.asyncio.Redis.from_url(redis_url)
    try:
        assert type(Channel(first)) is WireChannel
        assert type(shared_channel(first)) is SharedChannel
        monkeypatch.setenv("MESSAI_WIRE", "off")
        assert type(Channel(first)) is SingleTryChannel
        monkeypatch.setenv("MESSAI_WIRE", "0")
        assert type(shared_channel(first)) is SharedChannel  # made before the switch
        assert type(shared_channel(second)) is PlainChannel
    finally:
        for client in (first, second):
            await close_shared_channel(client)
            await client.aclose()


@pytest.mark.parametrize("kind", [WireChannel, SingleTryChannel])
async def test_a_workers_channel_closes_the_connections_it_opened(
    redis_factory: RedisFactory, kind: type[Channel]
) -> None:
    server = redis_factory()

    def connections() -> int:
        with server.client() as observer:
            return len(observer.client_list()) - 1

    client = redis.asyncio.Redis.from_url(server.url, decode_responses=True)
    channel = kind(client)
    try:
        assert await asyncio.gather(*(channel.command("ECHO", i) for i in range(5))) == [
            str(i) for i in range(5)
        ]
        assert connections() >= 1
        await channel.close()
        await await_until(lambda: connections() == 0, message="a connection was left open")
    finally:
        await client.aclose()


async def test_with_the_switch_off_the_hot_calls_go_through_redis_py(
    redis_client: redis.asyncio.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESSAI_WIRE", "0")

    async def refuse(_channel: WireChannel, _request: Any) -> Any:
        raise AssertionError("the hand-written connection was used")

    monkeypatch.setattr(WireChannel, "execute", refuse)
    queue = Queue("plain", redis_client)
    jobs = await asyncio.gather(*(queue.add("noop", {"i": i}) for i in range(20)))
    await queue.add_bulk([("noop", None)] * 20)
    await _drain(queue, redis_client, 40)
    assert (await queue.counts())["completed"] == 40
    assert len({job.id for job in jobs}) == 20


async def _drain(queue: Queue, client: redis.asyncio.Redis, total: int) -> None:
    """Run a worker on ``queue`` until ``total`` jobs have completed."""
    done = asyncio.Event()
    completed = 0

    def listener(event: str, _job: Any, _details: dict[str, Any]) -> None:
        nonlocal completed
        if event == "completed":
            completed += 1
            if completed == total:
                done.set()

    worker = Worker(queue.name, client, concurrency=8, listener=listener)
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(done.wait(), 30)
    finally:
        worker.request_stop()
        await asyncio.wait_for(task, 15)


def test_the_hot_path_runs_on_uvloop(redis_url: str) -> None:
    """uvloop's transports are not ``asyncio.Transport`` subclasses and may
    report the connection after ``create_connection`` returns."""

    async def scenario() -> None:
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        queue = Queue("uvloop", client)
        try:
            await queue.add("noop")
            await asyncio.gather(*(queue.add("noop", {"i": i}) for i in range(20)))
            await queue.add_bulk([("noop", None)] * 9)
            await _drain(queue, client, 30)
            # The server closes the idle shared connection: noticed, replaced.
            await client.client_kill_filter(_type="normal", skipme=True)
            await queue.add("noop")
            assert (await queue.counts())["waiting"] == 1
        finally:
            await queue.aclose()
            await client.aclose()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(scenario())


@pytest.mark.parametrize("kind", CHANNELS)
async def test_a_channel_takes_a_request_packed_or_as_arguments(
    redis_client: redis.asyncio.Redis, kind: type[Channel]
) -> None:
    channel = kind(redis_client)
    try:
        assert await channel.execute(("ECHO", "as arguments")) == "as arguments"
        assert await channel.execute(pack(["ECHO", "packed"])) == "packed"
        assert await channel.command("ECHO", 3) == "3"
    finally:
        await channel.close()


async def test_the_tests_run_on_the_loop_that_messai_test_loop_names() -> None:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, uvloop.Loop) == (LOOP_FACTORIES is not None)
