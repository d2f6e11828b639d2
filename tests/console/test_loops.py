"""``--loop``: the worker's and the benchmark's event loop."""

from __future__ import annotations

import asyncio

import uvloop

from messai_console.cli.loops import LoopChoice, resolve, running_on


def test_auto_is_uvloop_when_installed() -> None:
    assert resolve("auto") is LoopChoice.uvloop


def test_running_on_uses_the_loop_and_restores_the_policy() -> None:
    before = asyncio.get_event_loop_policy()

    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    with running_on("uvloop") as chosen:
        assert chosen is LoopChoice.uvloop
        assert asyncio.run(loop_type()) is uvloop.Loop
    assert asyncio.get_event_loop_policy() is before
    with running_on("asyncio"):
        assert asyncio.run(loop_type()) is not uvloop.Loop
    assert asyncio.get_event_loop_policy() is before
