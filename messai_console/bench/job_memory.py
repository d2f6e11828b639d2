"""How many bytes a waiting job costs Redis in other layouts (a prototype, not the engine).

    python -m messai_console.bench.job_memory --redis-url redis://127.0.0.1:6396/0

Writes ``--jobs`` waiting jobs of each layout into a scratch prefix of the
server (removed afterwards) and reports ``used_memory`` per job, the hash
encoding, and ``MEMORY USAGE`` of one job's keys; for the engine's own
layout also what each part costs per job (the job hashes, the waiting list,
the events stream, and the rest: the keyspace's own table). Layouts:

- ``engine``: the engine's own (``Queue.add_bulk``): hash {n, ts, d1..dn},
  data in chunks of at most 63 bytes (engine/jobhash.py CHUNK_BYTES).
- ``hash``: the previous version's, one field {d, n, ts} with ``ts`` in ms
  with microseconds ("1795996050374.123").
- ``hash-int-ts``: ``ts`` as an integer (listpack stores it as an int).
- ``split-string``: data over the listpack limit in a string key ``job:<id>:d``.
- ``chunked``: data cut into fields of at most ``hash-max-listpack-value``
  bytes (``d``, ``d1``, ``d2``...), so the hash stays a listpack.
- ``zlib``: data compressed (realistic JSON, not the padding the bench uses).
- ``string``: the whole job packed into one string key (no hash at all).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import string
import time
import zlib
from collections.abc import Callable
from typing import Any

import orjson
import redis
import redis.asyncio

from engine.cluster import is_cluster_url, parse_cluster_url
from engine.connection import connect, connect_sync
from engine.queue import BulkJob, Queue
from messai_console.bench.cluster import node_client

SCRATCH = "messai-memtest"

Writer = Callable[[Any, str, bytes], None]


def realistic_payload(size: int, seed: int) -> bytes:
    """A JSON object of about ``size`` bytes with mixed, weakly compressible values."""
    rng = random.Random(seed)
    words = ["paper", "electrode", "biofilm", "anode", "voltage", "sample", "run", "cathode"]
    value: dict[str, Any] = {
        "paper_id": "".join(rng.choices(string.hexdigits.lower(), k=24)),
        "user": rng.randrange(10**6),
    }
    while len(orjson.dumps(value)) < size:
        value[f"k{len(value)}"] = " ".join(rng.choices(words, k=3))
    return orjson.dumps(value)[: max(size, 2)]


def padding_payload(size: int) -> bytes:
    return orjson.dumps({"blob": "x" * max(size - 12, 0)})


def chunks(data: bytes, limit: int) -> list[bytes]:
    return [data[i : i + limit] for i in range(0, len(data), limit)] or [b""]


def layouts(limit: int) -> dict[str, Writer]:
    now = time.time() * 1000

    def hash_(pipe: Any, key: str, data: bytes) -> None:
        pipe.hset(key, mapping={"d": data, "n": "noop", "ts": f"{now:.3f}"})

    def hash_int_ts(pipe: Any, key: str, data: bytes) -> None:
        pipe.hset(key, mapping={"d": data, "n": "noop", "ts": int(now)})

    def split_string(pipe: Any, key: str, data: bytes) -> None:
        fields: dict[str, Any] = {"n": "noop", "ts": int(now)}
        if len(data) > limit:
            pipe.set(f"{key}:d", data)
        else:
            fields["d"] = data
        pipe.hset(key, mapping=fields)

    def chunked(pipe: Any, key: str, data: bytes) -> None:
        fields: dict[str, Any] = {"n": "noop", "ts": int(now)}
        for i, piece in enumerate(chunks(data, limit)):
            fields["d" if i == 0 else f"d{i}"] = piece
        pipe.hset(key, mapping=fields)

    def compressed(pipe: Any, key: str, data: bytes) -> None:
        pipe.hset(key, mapping={"d": zlib.compress(data, 6), "n": "noop", "ts": int(now)})

    def packed_string(pipe: Any, key: str, data: bytes) -> None:
        pipe.set(key, orjson.dumps({"n": "noop", "ts": int(now)}) + b"\n" + data)

    return {
        "hash": hash_,
        "hash-int-ts": hash_int_ts,
        "split-string": split_string,
        "chunked": chunked,
        "zlib": compressed,
        "string": packed_string,
    }


def measure_layout(
    client: redis.Redis, writer: Writer, payloads: list[bytes], label: str
) -> dict[str, Any]:
    prefix = f"{SCRATCH}:{{{label}}}"
    client.rpush(f"{prefix}:waiting", "0")  # the list exists before measuring
    before = int(client.info("memory")["used_memory"])
    for start in range(0, len(payloads), 1000):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(start + 1000, len(payloads))):
            writer(pipe, f"{prefix}:job:{i + 1}", payloads[i])
            pipe.rpush(f"{prefix}:waiting", str(i + 1))
        pipe.execute()
    after = int(client.info("memory")["used_memory"])
    one = f"{prefix}:job:1"
    usage = int(client.memory_usage(one) or 0) + int(client.memory_usage(f"{one}:d") or 0)
    encoding = client.object("encoding", one)
    _delete(client, f"{prefix}:*")
    return {
        "bytes_per_job": (after - before) / len(payloads),
        "encoding": encoding.decode() if isinstance(encoding, bytes) else encoding,
        "memory_usage_one_job": usage,
    }


def measure_engine(url: str, jobs: int, payload: dict[str, Any]) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        client = connect(url)
        queue = Queue("memtest", client, prefix=SCRATCH)
        # on a cluster, the master that holds the queue answers INFO and MEMORY
        owner = await node_client(client, queue.keys.meta)
        server = owner or client
        try:
            await queue.add("noop")
            before = int((await server.info("memory"))["used_memory"])
            for start in range(0, jobs, 10_000):
                await queue.add_bulk([BulkJob("noop", payload)] * min(10_000, jobs - start))
            after = int((await server.info("memory"))["used_memory"])
            key = queue.keys.job("2")
            encoding = await server.object("encoding", key)
            one_job = int(await server.memory_usage(key, samples=0) or 0)
            parts = {
                "job_hashes": one_job,
                "waiting_list": int(
                    await server.memory_usage(queue.keys.waiting_list, samples=0) or 0
                )
                / jobs,
                "events_stream": int(await server.memory_usage(queue.keys.events, samples=0) or 0)
                / jobs,
            }
            parts["keyspace_and_rest"] = (after - before) / jobs - sum(parts.values())
            return {
                "bytes_per_job": (after - before) / jobs,
                "encoding": encoding.decode() if isinstance(encoding, bytes) else encoding,
                "memory_usage_one_job": one_job,
                "parts_per_job": parts,
            }
        finally:
            await queue.obliterate(force=True)
            if owner is not None:
                await owner.aclose()
            await client.aclose()

    return asyncio.run(run())


def server_for(url: str, key: str) -> redis.Redis:
    """A client on the server that holds ``key``: on a Redis Cluster the master
    that owns its slot (a layout's keys share one hash tag, so one master has
    them all, and INFO there counts their memory), else the URL's server."""
    if not is_cluster_url(url):
        return redis.Redis.from_url(url)
    with connect_sync(url) as cluster:
        node = cluster.get_node_from_key(key)
        host, port = str(node.host), int(node.port)
    config = parse_cluster_url(url)
    return redis.Redis(
        host=host,
        port=port,
        username=config.username,
        password=config.password,
        ssl=config.tls,
        **config.options,
    )


def _delete(client: redis.Redis, pattern: str) -> None:
    batch = []
    for key in client.scan_iter(pattern, count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            client.unlink(*batch)
            batch.clear()
    if batch:
        client.unlink(*batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--payload-bytes", type=int, default=200)
    parser.add_argument(
        "--chunk-bytes", type=int, help="Split limit (default: the server's listpack limit)."
    )
    args = parser.parse_args()
    client = server_for(args.redis_url, SCRATCH)
    config = {
        (k.decode() if isinstance(k, bytes) else k): v
        for k, v in client.config_get("hash-max-listpack-value").items()
    }
    server_limit = int(config.get("hash-max-listpack-value") or 64)
    limit = args.chunk_bytes or server_limit
    rows: dict[str, Any] = {"hash_max_listpack_value": server_limit, "chunk_bytes": limit}
    padded = padding_payload(args.payload_bytes)
    rows["engine"] = measure_engine(args.redis_url, args.jobs, orjson.loads(padded))
    for label, writer in layouts(limit).items():
        if label == "zlib":
            payloads = [realistic_payload(args.payload_bytes, i) for i in range(args.jobs)]
            rows["zlib_ratio"] = sum(len(zlib.compress(p, 6)) for p in payloads[:1000]) / sum(
                len(p) for p in payloads[:1000]
            )
        else:
            payloads = [padded] * args.jobs
        with server_for(args.redis_url, f"{SCRATCH}:{{{label}}}") as holder:
            rows[label] = measure_layout(holder, writer, payloads, label)
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
