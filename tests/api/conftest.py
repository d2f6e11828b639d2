"""Fixtures for the API: the ASGI app on the test Redis, in process or under uvicorn."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest_asyncio
import redis.asyncio
import uvicorn
from fastapi import FastAPI

from messai_console.api import ApiConfig, create_app
from messai_console.api.auth import TokenTable

READ = "read-token-0123456789"
ENQUEUE = "enqueue-token-0123456789"
OPERATE = "operate-token-0123456789"
ALL = "all-scopes-token-0123456789"


def token_table() -> TokenTable:
    return TokenTable(
        [
            (frozenset({"read"}), READ),
            (frozenset({"enqueue"}), ENQUEUE),
            (frozenset({"operate"}), OPERATE),
            (frozenset({"read", "enqueue", "operate"}), ALL),
        ]
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def running_app(url: str, config: ApiConfig) -> AsyncIterator[FastAPI]:
    app = create_app(url, "messai", config)
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def asgi_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest_asyncio.fixture
async def api(redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app without tokens (every scope)."""
    async with running_app(redis_url, ApiConfig()) as app, asgi_client(app) as client:
        yield client


@pytest_asyncio.fixture
async def secured(redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app with the tokens of :func:`token_table` (send your own header)."""
    config = ApiConfig(tokens=token_table())
    async with running_app(redis_url, config) as app, asgi_client(app) as client:
        yield client


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LiveServer:
    base_url: str
    ws_url: str
    app: FastAPI


@asynccontextmanager
async def uvicorn_server(url: str, config: ApiConfig) -> AsyncIterator[LiveServer]:
    """The app under a real uvicorn on a free loopback port, in this event loop."""
    port = free_port()
    app = create_app(url, "messai", config)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            ws="websockets-sansio",
            timeout_graceful_shutdown=5,
        )
    )
    task = asyncio.create_task(server.serve())
    deadline = asyncio.get_running_loop().time() + 20
    while not server.started:
        if task.done():
            task.result()
        assert asyncio.get_running_loop().time() < deadline, "uvicorn did not start"
        await asyncio.sleep(0.01)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


ServerFactory = Callable[..., Any]


@pytest_asyncio.fixture
async def live_server(redis_url: str) -> AsyncIterator[LiveServer]:
    """uvicorn with the tokens of :func:`token_table`, counts every 0.2 s."""
    config = ApiConfig(tokens=token_table(), counts_every_s=0.2)
    async with uvicorn_server(redis_url, config) as server:
        yield server


@pytest_asyncio.fixture
async def redis_async(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    from engine.connection import connect

    client = connect(redis_url)
    try:
        yield client
    finally:
        await client.aclose()
