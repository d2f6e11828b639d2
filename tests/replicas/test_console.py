"""The console on a master and a replica: it reads on the replica (the master
sees none of its reads), acts on the master, shows every node, and says so
in its header when a failover moves the master."""

from __future__ import annotations

import contextlib

from engine import Queue, connect
from engine.replicas import with_replica_option
from messai_console.tui.backend import CONNECTION_ERRORS, Backend
from messai_console.tui.screens.nodes import NodesScreen
from messai_console.tui.screens.overview import OverviewScreen
from tests.helpers import await_until
from tests.replicas.conftest import CONNECTION_COMMANDS, Replicated, SentinelSetup
from tests.tui.support import SIZE, console, wait_for_rows, wait_for_screen

CONSOLE_ADMIN = frozenset({"config|get"})
"""The console reads the master's settings (persistence, eviction policy) for its header."""


async def test_the_console_reads_on_the_replica_and_acts_on_the_master(
    replicated: Replicated,
) -> None:
    writer = connect(replicated.master.url, retries=1)
    try:
        queue = Queue("papers", writer)
        await queue.add_bulk([("echo", {"n": n}) for n in range(3)])
        replicated.synced()
        before = replicated.commandstats(replicated.master)
        app = console(with_replica_option(replicated.master.url))
        async with app.run_test(size=SIZE) as pilot:
            overview = await wait_for_screen(app, OverviewScreen)
            await wait_for_rows(overview.table, 1)
            assert "3" in str(overview.table.get_row("papers")[2])
            assert app.status.from_replica
            await pilot.press("n")
            nodes = await wait_for_screen(app, NodesScreen)
            await wait_for_rows(nodes.table, 2)
            roles = [str(nodes.table.get_row(key)[1]) for key in nodes.table.rows]
            assert sorted(roles) == ["master", "replica"]
            await pilot.press("escape")
            overview = await wait_for_screen(app, OverviewScreen)
            refreshes = app.refresh_count
            await await_until(lambda: app.refresh_count >= refreshes + 3, timeout=20)
            after = replicated.commandstats(replicated.master)
            changed = {name for name, calls in after.items() if calls != before.get(name, 0)}
            assert changed <= CONNECTION_COMMANDS | CONSOLE_ADMIN, changed
            # An action goes to the master.
            await pilot.press("p")
            await await_until(queue.is_paused, timeout=10)
            await await_until(
                lambda: "paused" in str(overview.table.get_row("papers")[1]), timeout=10
            )
    finally:
        await writer.aclose()


async def test_a_single_server_is_one_node_row(redis_url: str) -> None:
    app = console(redis_url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_screen(app, OverviewScreen)
        await pilot.press("n")
        nodes = await wait_for_screen(app, NodesScreen)
        await wait_for_rows(nodes.table, 1)
        (key,) = list(nodes.table.rows)
        assert str(nodes.table.get_row(key)[1]) == "master"


async def test_a_failover_is_announced_and_the_console_goes_on(
    sentinel_setup: SentinelSetup,
) -> None:
    writer = connect(sentinel_setup.url, retries=1)
    try:
        await Queue("papers", writer).add("echo", {})
        app = console(sentinel_setup.url)
        async with app.run_test(size=SIZE) as pilot:
            overview = await wait_for_screen(app, OverviewScreen)
            await wait_for_rows(overview.table, 1)
            await pilot.press("n")
            nodes = await wait_for_screen(app, NodesScreen)
            await wait_for_rows(nodes.table, 2)
            old = f"127.0.0.1:{sentinel_setup.master.port}"
            new = f"127.0.0.1:{sentinel_setup.replica.port}"
            sentinel_setup.kill_master()
            await await_until(
                lambda: app.status.connected is True and "master changed" in app.status.notice,
                timeout=40,
                interval=0.1,
                message=f"no notice of the new master; status {app.status}",
            )
            assert app.status.notice.startswith(f"master changed: {old} -> {new}")
            await await_until(lambda: "master" in str(nodes.table.get_row(new)[1]), timeout=20)
            # The console works on the new master: an action lands there.
            await pilot.press("escape")
            overview = await wait_for_screen(app, OverviewScreen)
            await pilot.press("p")
            await await_until(Queue("papers", writer).is_paused, timeout=20)
    finally:
        await writer.aclose()


async def test_a_new_master_is_kept_until_the_header_takes_it(
    sentinel_setup: SentinelSetup,
) -> None:
    """The Nodes screen reads the nodes each second and the header every few:
    the read that sees the new master first must not swallow the notice."""
    backend = Backend(sentinel_setup.url, "messai")
    try:
        await backend.node_list()
        old = f"127.0.0.1:{sentinel_setup.master.port}"
        new = f"127.0.0.1:{sentinel_setup.replica.port}"
        sentinel_setup.kill_master()

        async def on_new_master() -> bool:
            with contextlib.suppress(*CONNECTION_ERRORS):
                await backend.node_list()
            return backend.master_at == new

        await await_until(on_new_master, timeout=40, interval=0.2)
        await backend.node_list()  # a second screen's read, before the header's
        assert backend.take_master_moved() == (old, new)
        assert backend.take_master_moved() is None
    finally:
        await backend.close()
