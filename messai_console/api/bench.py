"""A benchmark of the API (not a test): live clients and POST /api/jobs.

    python -m messai_console.api.bench [--redis-url URL] [--clients 500] [--jobs 300]

1. ``serve`` and a worker start as processes; ``--clients`` WebSocket clients
   follow one throwaway queue; ``--jobs`` no-op jobs are added and the worker
   drains them at full speed. Each client must receive every event of the
   queue or an explicit ``lagged``; the delay from the event in Redis (its
   stream id is Redis's clock in ms) to the client is reported.
2. ``POST /api/jobs`` requests per second (``--requests``, ``--concurrency``
   at once), beside two floors on the same machine: the server's cheapest
   answer (GET /openapi.json, no Redis) and single Redis round trips (PING).

The clients run in this process, on the same two cores as the server, so
the figures are what one machine does with both sides on it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from engine.connection import connect
from engine.queue import BulkJob, Queue
from messai_console.embedded.resolve import redis_url_or_embedded


@dataclass
class ClientTally:
    error: str | None = None
    events: int = 0
    lagged: int = 0
    skipped: int = 0
    delays_ms: list[float] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _spawn(args: list[str], url: str, prefix: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "INIT_SCHEDULED_JOBS": "false", "MESSAI_PREFIX": prefix}
    env.pop("MESSAI_API_TOKENS", None)
    env.pop("MESSAI_API_TOKENS_FILE", None)
    command = [sys.executable, "-m", "messai_console.cli", "--redis-url", url, *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def _wait_ready(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(600):
            try:
                if (await client.get("/openapi.json")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the API server did not start")


async def _client(ws_url: str, queue: str, tally: ClientTally, ready: asyncio.Event,
                  done: asyncio.Event) -> None:  # fmt: skip
    try:
        await _follow(ws_url, queue, tally, ready, done)
    except Exception as exc:  # a client that fails is counted, not fatal
        tally.error = f"{type(exc).__name__}: {exc}"[:200]


async def _follow(ws_url: str, queue: str, tally: ClientTally, ready: asyncio.Event,
                  done: asyncio.Event) -> None:  # fmt: skip
    import websockets

    # No keepalive pings from these clients, as from a browser (the server still pings):
    # with 500 clients in one process on a loaded machine, a client reads its messages
    # seconds behind, and its own ping's answer, queued behind them, came after its
    # 20 s timeout, so it dropped a healthy connection itself.
    async with websockets.connect(
        ws_url, max_queue=None, open_timeout=120, ping_interval=None
    ) as socket_:
        await socket_.send(json.dumps({"type": "subscribe", "queues": [queue]}))
        async for raw in socket_:
            message = json.loads(raw)
            kind = message["type"]
            if kind == "subscribed":
                ready.set()
            elif kind == "event":
                tally.events += 1
                tally.delays_ms.append(time.time() * 1000 - message["ts"])
            elif kind == "lagged":
                tally.lagged += 1
                tally.skipped += message["skipped"]
            if done.is_set():
                return


async def live_clients(url: str, clients: int, jobs: int) -> dict[str, Any]:
    port = _free_port()
    prefix = f"bench-{uuid.uuid4().hex[:8]}"  # nothing of a real deployment is touched
    server = _spawn(["serve", "--port", str(port), "--log-level", "warning"], url, prefix)
    redis = connect(url)
    queue = Queue("bench-ws", redis, prefix=prefix)
    worker: subprocess.Popen[bytes] | None = None
    try:
        await _wait_ready(f"http://127.0.0.1:{port}")
        await queue.add("noop", {})  # the queue exists before anyone follows it
        tallies = [ClientTally() for _ in range(clients)]
        readies = [asyncio.Event() for _ in range(clients)]
        done = asyncio.Event()
        tasks = []
        for tally, ready in zip(tallies, readies, strict=True):
            tasks.append(
                asyncio.create_task(
                    _client(f"ws://127.0.0.1:{port}/api/ws", queue.name, tally, ready, done)
                )
            )
            await asyncio.sleep(0.002)  # spread the handshakes a little
        connect_started = time.monotonic()
        while time.monotonic() - connect_started < 180:
            if all(ready.is_set() or t.error for ready, t in zip(readies, tallies, strict=True)):
                break
            await asyncio.sleep(0.1)
        connect_s = time.monotonic() - connect_started
        followers = [t for t, ready in zip(tallies, readies, strict=True) if ready.is_set()]
        first_id = (await redis.xinfo_stream(queue.keys.events))["last-generated-id"]
        started = time.monotonic()
        worker = _spawn(["worker", "-q", queue.name, "-c", "50", "--quiet"], url, prefix)
        await queue.add_bulk([BulkJob("noop", {"n": n}) for n in range(jobs)])
        while True:
            if (await queue.counts())["completed"] >= jobs + 1:
                break
            await asyncio.sleep(0.05)
        drained_s = time.monotonic() - started
        entries: Any = await redis.xrange(queue.keys.events, f"({first_id}", "+")
        expected = len(entries)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(t.events >= expected or t.lagged or t.error for t in followers):
                break
            await asyncio.sleep(0.1)
        done.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        delays = sorted(d for t in followers for d in t.delays_ms)
        complete = sum(1 for t in followers if t.events >= expected)
        lagged = sum(1 for t in followers if t.lagged)
        errors = Counter(t.error for t in tallies if t.error)
        return {
            "clients": clients,
            "subscribed": len(followers),
            "connect_s": round(connect_s, 1),
            "client_errors": dict(errors.most_common(5)),
            "jobs": jobs,
            "events_per_client": expected,
            "drain_s": round(drained_s, 2),
            "clients_with_every_event": complete,
            "clients_told_lagged": lagged,
            "clients_short_and_not_told": len(followers) - complete - lagged,
            "messages_delivered": len(delays),
            "delay_ms_p50": round(statistics.median(delays), 1) if delays else None,
            "delay_ms_p99": round(delays[int(len(delays) * 0.99) - 1], 1) if delays else None,
            "delay_ms_max": round(delays[-1], 1) if delays else None,
        }
    finally:
        if worker is not None:
            _stop(worker)
        _stop(server)
        await queue.obliterate(force=True)
        # one key per call: on a Redis Cluster the two live in different slots
        await redis.delete(f"{prefix}:queues")
        await redis.delete(f"{prefix}:workers")
        await redis.aclose()


async def post_rate(url: str, requests: int, concurrency: int) -> dict[str, Any]:
    port = _free_port()
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    server = _spawn(["serve", "--port", str(port), "--log-level", "warning"], url, prefix)
    redis = connect(url)
    queue_name = "paper-processing"  # under the throwaway prefix
    try:
        base = f"http://127.0.0.1:{port}"
        await _wait_ready(base)
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:

            async def hammer(make: Any) -> float:
                remaining = iter(range(requests))

                async def one_lane() -> None:
                    for n in remaining:
                        response = await make(n)
                        response.raise_for_status()

                started = time.perf_counter()
                await asyncio.gather(*(one_lane() for _ in range(concurrency)))
                return requests / (time.perf_counter() - started)

            body = {"type": "paper.noop", "data": {"n": 0}}
            posts = await hammer(lambda n: client.post("/api/jobs", json=body))
            http_floor = await hammer(lambda n: client.get("/openapi.json"))
        pings = 2000
        started = time.perf_counter()
        for _ in range(pings):
            await redis.ping()
        redis_floor = pings / (time.perf_counter() - started)
        return {
            "requests": requests,
            "concurrency": concurrency,
            "post_jobs_per_s": round(posts),
            "http_floor_per_s": round(http_floor),
            "redis_round_trips_per_s": round(redis_floor),
            "post_vs_http_floor": round(posts / http_floor, 2),
        }
    finally:
        _stop(server)
        await Queue(queue_name, redis, prefix=prefix).obliterate(force=True)
        await redis.delete(f"{prefix}:queues")
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    url = args.redis_url or redis_url_or_embedded()
    live = asyncio.run(live_clients(url, args.clients, args.jobs))
    print(json.dumps({"websocket": live}, indent=2), flush=True)
    posts = asyncio.run(post_rate(url, args.requests, args.concurrency))
    print(json.dumps({"post_jobs": posts}, indent=2), flush=True)


if __name__ == "__main__":
    main()
