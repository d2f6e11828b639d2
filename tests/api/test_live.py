"""/api/ws and /api/events through a real uvicorn and real clients; the mailboxes' lag."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import redis.asyncio
import websockets

from engine import JobContext, Queue, Worker
from messai_console.api.live import LiveHub, Outgoing, Subscriber
from tests.api.conftest import ENQUEUE, READ, LiveServer

QUEUE = "paper-processing"


async def receive(socket: Any, wait_s: float = 15) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), wait_s))
    return message


async def receive_until(socket: Any, predicate: Any, wait_s: float = 20) -> list[dict[str, Any]]:
    """Messages up to and including the first that ``predicate`` accepts."""
    seen = []
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, f"never came; saw {seen}"
        message = await receive(socket, remaining)
        seen.append(message)
        if predicate(message):
            return seen


async def stepping(ctx: JobContext) -> str:
    for pct in (30, 60, 90):
        await ctx.progress(pct, f"step {pct}")
    return "<b>done</b>"


async def start_worker(client: redis.asyncio.Redis) -> tuple[Worker, asyncio.Task[None]]:
    worker = Worker(QUEUE, client, {"stepping": stepping}, shutdown_grace_ms=2000)
    return worker, asyncio.create_task(worker.run())


async def stop(worker: Worker, task: asyncio.Task[None]) -> None:
    worker.request_stop()
    await asyncio.wait_for(task, 20)


async def test_websocket_follows_a_queue_with_events_and_counts(
    live_server: LiveServer, redis_async: redis.asyncio.Redis
) -> None:
    queue = Queue(QUEUE, redis_async)
    await queue.add("stepping", {"first": True})
    url = f"{live_server.ws_url}/api/ws?access_token={READ}"
    async with websockets.connect(url) as socket:
        await socket.send(json.dumps({"type": "subscribe", "queues": [QUEUE]}))
        first = await receive_until(socket, lambda m: m["type"] == "counts")
        assert {"type": "subscribed", "queues": [QUEUE]} in first
        assert first[-1]["counts"]["waiting"] == 1
        job = await queue.add("stepping", {"text": "<script>x</script>"})
        worker, task = await start_worker(redis_async)
        try:
            seen = await receive_until(
                socket,
                lambda m: (
                    m["type"] == "event" and m["event"] == "job:completed" and m["job_id"] == job.id
                ),
            )
        finally:
            await stop(worker, task)
        mine = [m for m in seen if m["type"] == "event" and m["job_id"] == job.id]
        assert [m["event"] for m in mine] == [
            "job:added",
            "job:active",
            "job:progress",
            "job:progress",
            "job:progress",
            "job:completed",
        ]
        assert [m["state"] for m in mine][-2:] == ["active", "completed"]
        assert mine[2]["progress"] == {"pct": 30.0, "msg": "step 30"}
        assert all(m["queue"] == QUEUE and "-" in m["id"] for m in mine)
        counts = await receive_until(socket, lambda m: m["type"] == "counts")
        assert counts[-1]["counts"]["completed"] == 2


async def test_websocket_follows_one_job_from_its_state_now(
    live_server: LiveServer, redis_async: redis.asyncio.Redis
) -> None:
    queue = Queue(QUEUE, redis_async)
    other = await queue.add("stepping", {})
    job = await queue.add("stepping", {"hostile": "[bold]\x1b[31m"})
    url = f"{live_server.ws_url}/api/ws"
    async with websockets.connect(
        url, additional_headers={"Authorization": f"Bearer {READ}"}
    ) as socket:
        await socket.send(json.dumps({"type": "subscribe", "job": {"queue": QUEUE, "id": job.id}}))
        snapshot = await receive(socket)
        assert snapshot["type"] == "job" and snapshot["job"]["state"] == "waiting"
        assert snapshot["job"]["data"] == {"hostile": "[bold]\x1b[31m"}
        assert (await receive(socket))["type"] == "subscribed"
        worker, task = await start_worker(redis_async)
        try:
            seen = await receive_until(socket, lambda m: m.get("state") == "completed")
        finally:
            await stop(worker, task)
        assert {m["job_id"] for m in seen} == {job.id}, "only its own job's events"
        assert other.id != job.id
        assert [m["event"] for m in seen][:2] == ["job:active", "job:progress"]
        assert not [m for m in seen if m["type"] == "counts"]


async def test_websocket_resumes_after_the_last_event_id(
    live_server: LiveServer, redis_async: redis.asyncio.Redis
) -> None:
    queue = Queue(QUEUE, redis_async)
    jobs = [await queue.add("stepping", {"n": n}) for n in range(4)]
    url = f"{live_server.ws_url}/api/ws?access_token={READ}"
    async with websockets.connect(url) as socket:
        await socket.send(json.dumps({"type": "subscribe", "queues": [QUEUE], "since": "0"}))
        seen = await receive_until(socket, lambda m: m.get("job_id") == jobs[-1].id)
    resume_from = next(m["id"] for m in seen if m.get("job_id") == jobs[1].id)
    async with websockets.connect(url) as socket:
        request = {"type": "subscribe", "queues": [QUEUE], "since": {QUEUE: resume_from}}
        await socket.send(json.dumps(request))
        later = await queue.add("stepping", {"n": "later"})
        seen = await receive_until(socket, lambda m: m.get("job_id") == later.id)
    replayed = [m["job_id"] for m in seen if m["type"] == "event"]
    assert replayed == [jobs[2].id, jobs[3].id, later.id]


async def test_websocket_refuses_bad_tokens_and_bad_requests(
    live_server: LiveServer, redis_async: redis.asyncio.Redis
) -> None:
    await Queue(QUEUE, redis_async).add("stepping", {})
    for token, status in (("", 401), ("nope-nope-nope-nope", 401), (ENQUEUE, 403)):
        async with websockets.connect(
            f"{live_server.ws_url}/api/ws?access_token={token}"
        ) as socket:
            message = await receive(socket)
            assert message == {"type": "error", "status": status, "detail": message["detail"]}
            await asyncio.wait_for(socket.wait_closed(), 10)
            assert socket.close_code == 4000 + status
    async with websockets.connect(f"{live_server.ws_url}/api/ws?access_token={READ}") as socket:
        for request in (
            "not json",
            json.dumps([1]),
            json.dumps({"type": "subscribe", "queues": ["no-such-queue"]}),
            json.dumps({"type": "subscribe", "queues": [QUEUE], "since": "<x>"}),
            json.dumps({"type": "subscribe", "job": {"queue": QUEUE, "id": "missing"}}),
            json.dumps({"type": "dance"}),
        ):
            await socket.send(request)
            message = await receive(socket)
            assert message["type"] == "error", request


async def sse_messages(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if "data" in fields:
                yield fields
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


async def test_server_sent_events_with_last_event_id(
    live_server: LiveServer, redis_async: redis.asyncio.Redis
) -> None:
    queue = Queue(QUEUE, redis_async)
    first = await queue.add("stepping", {})
    headers = {"Authorization": f"Bearer {READ}"}
    async with httpx.AsyncClient(base_url=live_server.base_url, timeout=20) as client:
        refused = await client.get("/api/events", params={"queue": QUEUE})
        assert refused.status_code == 401
        params = {"queue": QUEUE, "since": "0"}
        async with client.stream("GET", "/api/events", params=params, headers=headers) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            async for message in sse_messages(response):
                if message["event"] == "event":
                    assert json.loads(message["data"])["job_id"] == first.id
                    cursor = message["id"]
                    break
        assert cursor.startswith(f"{QUEUE}:")
        second = await queue.add("stepping", {})
        resumed = {**headers, "Last-Event-ID": cursor}
        async with client.stream(
            "GET", "/api/events", params={"queue": QUEUE}, headers=resumed
        ) as response:
            kinds = []
            async for message in sse_messages(response):
                kinds.append(message["event"])
                if message["event"] == "event":
                    assert json.loads(message["data"])["job_id"] == second.id
                    break
        job_params = {"job_queue": QUEUE, "job_id": second.id}
        async with client.stream(
            "GET", "/api/events", params=job_params, headers=headers
        ) as response:
            async for message in sse_messages(response):
                assert message["event"] == "job"
                assert json.loads(message["data"])["job"]["id"] == second.id
                break


async def test_a_slow_client_lags_alone_and_hears_it(redis_async: redis.asyncio.Redis) -> None:
    queue = Queue(QUEUE, redis_async)
    await queue.add("stepping", {})
    hub = LiveHub(redis_async, "messai", counts_every_s=60)
    slow, fast = Subscriber(limit=5), Subscriber(limit=1000)
    try:
        await hub.follow_queue(slow, QUEUE, None)
        await hub.follow_queue(fast, QUEUE, None)
        added = [(await queue.add("stepping", {"n": n})).id for n in range(40)]
        received: list[Outgoing] = []
        while len([m for m in received if m.kind == "event"]) < 40:
            item = await asyncio.wait_for(fast.next(), 20)
            assert item is not None
            received.append(item)
        assert [json.loads(m.text)["job_id"] for m in received if m.kind == "event"] == added
        first = await slow.next()
        assert first is not None and first.kind == "lagged"
        lagged = json.loads(first.text)
        assert lagged["type"] == "lagged" and lagged["skipped"] >= 35
        assert slow.lagged_count >= 1 and fast.lagged_count == 0
    finally:
        await hub.close()


def test_a_mailbox_drops_its_backlog_and_says_how_much() -> None:
    mailbox = Subscriber(limit=3)
    for n in range(5):
        mailbox.offer(Outgoing("event", f'{{"n": {n}}}', "q", f"{n}-0"))

    async def drain() -> list[Outgoing]:
        items = []
        while (item := await mailbox.next(0.01)) is not None:
            items.append(item)
        return items

    items = asyncio.run(drain())
    assert [item.kind for item in items] == ["lagged", "event"]
    assert json.loads(items[0].text)["skipped"] == 4
    assert items[1].event_id == "4-0" and mailbox.delivered == {"q": "4-0"}


async def test_the_event_stream_carries_job_duplicated(
    live_server: LiveServer, redis_async: redis.asyncio.Redis
) -> None:
    queue = Queue(QUEUE, redis_async)
    await queue.add("stepping", {}, job_id="once")
    await queue.add("stepping", {}, job_id="once")
    headers = {"Authorization": f"Bearer {READ}"}
    params = {"queue": QUEUE, "since": "0"}
    seen = []
    async with (
        asyncio.timeout(20),
        httpx.AsyncClient(base_url=live_server.base_url, timeout=20) as client,
        client.stream("GET", "/api/events", params=params, headers=headers) as response,
    ):
        async for message in sse_messages(response):
            if message["event"] == "event":
                seen.append(json.loads(message["data"]))
                if len(seen) == 2:
                    break
    assert [(event["event"], event["job_id"]) for event in seen] == [
        ("job:added", "once"),
        ("job:duplicated", "once"),
    ]
