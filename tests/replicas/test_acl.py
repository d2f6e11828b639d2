"""The ACL users of `engine.acl` on a real server: each role can do its job and
nothing more. Every allowed step runs first with an empty ACL LOG and must
leave it empty (no command refused and swallowed by a retry); then the
refused steps change nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
import redis
import redis.asyncio
from redis.exceptions import NoPermissionError, ResponseError
from typer.testing import CliRunner

from engine import JobContext, Queue, Worker, connect
from engine.acl import ROLES, Role, rules, setuser_command
from engine.events import read_history
from engine.keys import queue_registry_key
from engine.scripts import scripts
from messai_console.cli import app
from messai_console.embedded import EmbeddedServer
from messai_console.tui.backend import Backend
from tests.helpers import RedisFactory, await_until

PASSWORD = "s3cret-pw"

EXPECTED_DENIALS = frozenset(
    {
        # the reload path: a function missing from the server is loaded while the
        # call runs with EVAL, which these users may not send: the call is then
        # sent again as FCALL (engine.scripts.BoundScript._recover)
        "producer: command eval",
        "worker: command eval",
        # the server's settings (CONFIG GET can show secrets): the worker's and
        # the console's warnings about them are skipped
        "worker: command config|get",
        "console: command config|get",
    }
)
"""Refusals that the engine expects and handles (ACL LOG lists them)."""


@dataclass
class AclServer:
    server: EmbeddedServer

    def url(self, role: Role) -> str:
        return f"redis://{role}:{PASSWORD}@127.0.0.1:{self.server.port}/0"

    def admin(self) -> redis.Redis:
        return self.server.client()

    def denials(self) -> list[str]:
        with self.admin() as admin:
            return [
                f"{entry['username']}: {entry['reason']} {entry['object']}"
                for entry in admin.acl_log()
            ]

    def reset_log(self) -> None:
        with self.admin() as admin:
            admin.acl_log_reset()


@pytest_asyncio.fixture
async def acl_server(redis_factory: RedisFactory) -> AsyncIterator[AclServer]:
    """A fresh server (no functions loaded: the producer's first add loads
    one) with one user per role."""
    server = redis_factory()
    with server.client() as admin:
        for role in ROLES:
            admin.execute_command(*setuser_command(role, role, PASSWORD).split())
    yield AclServer(server)


def test_the_rules_name_the_prefix_and_only_the_roles_scripts() -> None:
    producer = rules("producer", "acme")
    assert "~acme:*" in producer and "&acme:*" in producer
    assert f"+fcall|{scripts().add.function}" in producer
    assert scripts().obliterate.function not in producer
    assert "+eval " not in producer and "+del" not in producer
    worker = rules("worker")
    assert f"+fcall|{scripts().finish.function}" in worker
    for name in ("obliterate", "drain", "retry", "clean", "remove", "cancel", "pause"):
        assert getattr(scripts(), name).function not in worker
    console = rules("console")
    assert "+function|load" not in console and "+fcall|" not in console
    with pytest.raises(ValueError, match="role"):
        rules("admin")  # type: ignore[arg-type]


async def _refused(call: object) -> None:
    with pytest.raises(NoPermissionError):
        await call  # type: ignore[misc]


async def test_each_role_does_its_job_and_nothing_more(acl_server: AclServer) -> None:
    producer = connect(acl_server.url("producer"), retries=1)
    worker_client = connect(acl_server.url("worker"), retries=1)
    console_client = connect(acl_server.url("console"), retries=1)
    try:
        # -- the producer adds (and its first call loads the function) -------
        produced = Queue("papers", producer)
        first = await produced.add("extract", {"n": 0})
        await produced.add_bulk([("extract", {"n": n}) for n in range(1, 20)])
        await produced.add("extract", {"n": 20}, delay_ms=60_000)
        broken = await produced.add("broken", {}, attempts=1)
        assert (await produced.get_job(first.id)) is not None
        with acl_server.admin() as admin:
            assert admin.function_list(library=scripts().add.function)

        # -- a real worker runs them -----------------------------------------
        done: list[int] = []

        async def extract(ctx: JobContext) -> int:
            done.append(ctx.data["n"])
            await ctx.progress(50)
            return int(ctx.data["n"])

        async def fail(ctx: JobContext) -> None:
            raise RuntimeError("cannot")

        worker = Worker(
            "papers", worker_client, {"extract": extract, "broken": fail}, concurrency=4
        )
        task = asyncio.create_task(worker.run())
        try:
            await await_until(
                lambda: _counts_reach(produced, completed=20, failed=1), timeout=30, interval=0.05
            )
        finally:
            worker.request_stop()
            await asyncio.wait_for(task, 30)
        assert sorted(done) == list(range(20))

        # -- the read-only console reads -------------------------------------
        reading = Queue("papers", console_client)
        counts = await reading.counts()
        assert counts["completed"] == 20 and counts["delayed"] == 1
        jobs = await reading.get_jobs("completed", 0, 4)
        assert len(jobs) == 5 and all(job.result is not None for job in jobs)
        events = await read_history(console_client, reading.keys, "-", "+", count=100)
        assert any(event.name == "job:completed" for event in events)
        backend = Backend(acl_server.url("console"), "messai")
        try:
            overview = await backend.overview(int(time.time() * 1000))
            assert [queue.name for queue in overview.queues] == ["papers"]
            assert overview.queues[0].counts["completed"] == 20
            assert await backend.server()
            assert len(await backend.node_list()) == 1
        finally:
            await backend.close()

        unexpected = [entry for entry in acl_server.denials() if entry not in EXPECTED_DENIALS]
        assert unexpected == []

        # -- and nothing more ------------------------------------------------
        before = await produced.counts()
        await _refused(produced.obliterate(force=True))
        await _refused(produced.drain())
        await _refused(producer.execute_command("FCALL", scripts().fetch.function, "0"))
        await _refused(producer.delete("messai:{papers}:meta"))
        await _refused(producer.execute_command("EVAL", "return 1", "0"))

        working = Queue("papers", worker_client)
        await _refused(working.obliterate(force=True))
        await _refused(working.drain())
        await _refused(working.retry_failed())
        await _refused(working.retry_job(broken.id))
        await _refused(worker_client.execute_command("FLUSHALL"))

        await _refused(reading.drain())
        await _refused(reading.retry_job(broken.id))
        await _refused(reading.retry_failed())
        await _refused(reading.add("extract", {}))
        await _refused(reading.pause())
        # EVAL is no way round: the script's own commands are checked too
        delete = "return redis.call('DEL', KEYS[1])"
        with pytest.raises(ResponseError, match="can't run this command"):
            await console_client.execute_command("EVAL", delete, "1", "messai:{papers}:meta")
        assert await produced.counts() == before
        with acl_server.admin() as admin:
            assert admin.exists("messai:{papers}:events") == 1
            assert admin.sismember(queue_registry_key(), "papers")
            assert admin.hget("messai:{papers}:meta", "paused") is None
        # outside the prefix, nobody reads or writes
        other = Queue("papers", producer, prefix="other")
        await _refused(other.add("extract", {}))
    finally:
        for client in (producer, worker_client, console_client):
            await client.aclose()


async def _counts_reach(queue: Queue, completed: int, failed: int) -> bool:
    counts = await queue.counts()
    return counts["completed"] >= completed and counts["failed"] >= failed


def test_the_acl_command_prints_the_rules() -> None:
    runner = CliRunner()
    printed = runner.invoke(app, ["acl", "worker"])
    assert printed.exit_code == 0, printed.output
    assert printed.stdout.strip() == rules("worker")
    line = runner.invoke(app, ["acl", "console", "--user", "ops-view"])
    assert line.stdout.startswith("ACL SETUSER ops-view reset on ><password> ")
    assert runner.invoke(app, ["acl", "admin"]).exit_code == 2


async def test_a_reader_that_may_not_write_reads_past_ghosts(acl_server: AclServer) -> None:
    """A read that meets ghosts drops them where it may write; a console user
    may not: the page is full all the same, and the ghosts stay."""
    admin_queue = Queue("papers", connect(acl_server.server.url))
    try:
        ids = await admin_queue.add_bulk([("extract", {"n": n}) for n in range(3)])
        with acl_server.admin() as admin:
            admin.delete(f"messai:{{papers}}:job:{ids[0]}")  # a ghost
    finally:
        await admin_queue.redis.aclose()
    reader = connect(acl_server.url("console"))
    try:
        page = await Queue("papers", reader).get_jobs("waiting", 0, 1)
        assert [job.id for job in page] == ids[1:]
    finally:
        await reader.aclose()
    with acl_server.admin() as admin:
        assert admin.llen("messai:{papers}:waiting:list") == 3  # the ghost stays
