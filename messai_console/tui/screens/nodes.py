"""Nodes: the master and its replicas, with memory, ops/s and replication lag;
on a Redis Cluster every master with its slots and queues, each followed by
its replicas."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from engine.nodes import NodeInfo
from messai_console.tui import render
from messai_console.tui.screens.base import TableScreen

COLUMNS: tuple[tuple[str, str], ...] = (
    ("address", "node"),
    ("role", "role"),
    ("memory", "memory"),
    ("ops", "ops/s"),
    ("clients", "clients"),
    ("link", "link"),
    ("lag", "replication lag"),
    ("slots", "slots"),
    ("queues", "queues"),
)

QUEUES_SHOWN = 6
"""Queue names a master's row shows before it says how many more."""


def placement_cells(node: NodeInfo) -> tuple[Text, Text]:
    """Slots and queues of a master; a cluster replica names its master."""
    if node.role != "master" and node.master:
        return Text(f"replica of {node.master}", style="dim"), Text("")
    names = ", ".join(node.queues[:QUEUES_SHOWN])
    if len(node.queues) > QUEUES_SHOWN:
        names += f" (+{len(node.queues) - QUEUES_SHOWN} more)"
    return Text(node.slots), render.safe(names, 80)


def lag_text(node: NodeInfo) -> Text:
    """``1,024 bytes, 0 s``: how far the replica is behind (nothing for the master)."""
    if node.lag_bytes is None:
        return Text("")
    text = f"{node.lag_bytes:,} bytes"
    if node.lag_s is not None:
        text += f", {node.lag_s} s"
    return Text(text, style="bold yellow" if node.lag_bytes or (node.lag_s or 0) > 1 else "")


class NodesScreen(TableScreen):
    """Every Redis node behind the console's URL, master first (INFO on each)."""

    HEADING = "Nodes"
    TABLE_ID = "nodes"
    TOTALS_ID = "node-totals"
    COLUMNS = COLUMNS

    async def refresh_data(self) -> None:
        nodes = await self.backend.node_list()
        self.table.sync([(node.address, self._cells(node)) for node in nodes])
        replicas = [node for node in nodes if node.role != "master"]
        masters = len(nodes) - len(replicas)
        text = Text()
        text.append(
            f"{masters} master{'s' if masters != 1 else ''}, {len(replicas)} replicas",
            style="bold",
        )
        if any(node.slots for node in nodes):
            text.append("   a cluster: each queue lives on the master of its slot", style="dim")
        down = [node for node in nodes if node.error or node.link == "down"]
        if down:
            text.append(f"   {len(down)} unreachable or not in sync", style="bold red")
        if self.backend.from_replica:
            text.append(
                "   the console reads from a replica; actions go to the master", style="dim"
            )
        self.query_one("#node-totals", Static).update(text)

    @staticmethod
    def _cells(node: NodeInfo) -> tuple[Any, ...]:
        if node.error:
            return (
                render.safe(node.address, 40),
                Text(node.role, style="dim"),
                Text(""),
                Text(""),
                Text(""),
                Text("unreachable", style="bold red"),
                render.safe(node.error, 60, style="red"),
                *placement_cells(node),
            )
        return (
            render.safe(node.address, 40, style="bold" if node.role == "master" else ""),
            Text(node.role, style="bold" if node.role == "master" else ""),
            Text(render.visible_str(node.used_memory_human), justify="right"),
            Text(f"{node.ops_per_sec:,}", justify="right"),
            Text(f"{node.connected_clients:,}", justify="right"),
            Text(node.link, style="bold red" if node.link == "down" else ""),
            lag_text(node),
            *placement_cells(node),
        )
