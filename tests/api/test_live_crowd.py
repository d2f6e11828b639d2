"""Many live clients at once: every one is subscribed, none is dropped.

Through a real uvicorn and real WebSocket clients on the test Redis. The
deadlines are generous (a shared, loaded machine); the figures are the
benchmark's (``python -m messai_console.api.bench``), not these tests'.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import redis.asyncio
import websockets

from engine import Queue
from messai_console.api.live import LiveHub, Subscriber
from tests.api.conftest import READ, LiveServer
from tests.helpers import await_until

QUEUE = "paper-processing"
CLIENTS = 200
"""More than redis-py's default pool (100 connections) subscribing at the same moment."""


async def _first_answer(socket: Any, wait_s: float) -> dict[str, Any]:
    """The first message other than counts and events (those may come first)."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), remaining))
        if message["type"] not in ("counts", "event"):
            return message


async def test_two_hundred_clients_subscribing_at_once_are_all_subscribed(
    live_server: LiveServer, redis_async: redis.asyncio.Redis
) -> None:
    await Queue(QUEUE, redis_async).add("stepping", {})
    url = f"{live_server.ws_url}/api/ws?access_token={READ}"
    sockets = []
    try:
        for _ in range(CLIENTS):
            sockets.append(await websockets.connect(url, open_timeout=60))
        # Every socket is open before any subscribes, so the subscriptions meet in the server.
        request = json.dumps({"type": "subscribe", "queues": [QUEUE]})
        await asyncio.gather(*(socket.send(request) for socket in sockets))
        answers = await asyncio.gather(
            *(_first_answer(socket, 90) for socket in sockets), return_exceptions=True
        )
        problems = [
            repr(a) for a in answers if not isinstance(a, dict) or a["type"] != "subscribed"
        ]
        assert not problems, f"{len(problems)} of {CLIENTS} not subscribed: {sorted(set(problems))}"
    finally:
        await asyncio.gather(*(socket.close() for socket in sockets), return_exceptions=True)


async def test_a_client_leaving_does_not_stop_a_queue_others_are_joining(
    redis_async: redis.asyncio.Redis,
) -> None:
    await Queue(QUEUE, redis_async).add("stepping", {})
    hub = LiveHub(redis_async, "messai", counts_every_s=0.2)
    joining, leaving = Subscriber(limit=100), Subscriber(limit=100)
    try:
        join = asyncio.create_task(hub.follow_queue(joining, QUEUE, None))
        await await_until(lambda: QUEUE in hub.hubs, timeout=20, interval=0)
        assert not hub.hubs[QUEUE].ready.is_set(), "the queue's reader started too early"
        # A client that followed nothing closes while the reader is still starting.
        await hub.unsubscribe(leaving)
        await asyncio.wait_for(join, 20)
        counts = await asyncio.wait_for(joining.next(), 20)
        assert counts is not None and json.loads(counts.text)["type"] == "counts"
    finally:
        await hub.close()
