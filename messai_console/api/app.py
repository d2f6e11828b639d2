"""The API as an ASGI application: ``create_app`` builds it for uvicorn and the tests."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, Response
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.connection import connect
from engine.errors import (
    EngineError,
    InvalidJobError,
    InvalidStateError,
    JobNotFoundError,
    QueueNotFoundError,
)
from messai_console import __version__
from messai_console.api import metrics, routes, stream
from messai_console.api.config import ApiConfig
from messai_console.api.limits import BodySizeLimit
from messai_console.api.live import LiveHub
from messai_console.api.responses import SafeJSONResponse
from messai_console.api.security import require

DESCRIPTION = """\
The MESSAI job queues over HTTP: read queues and jobs, add catalog jobs,
pause, drain, retry and cancel; follow jobs live over WebSocket (`/api/ws`)
or Server-Sent Events (`/api/events`); Prometheus metrics at `/metrics`.

Authentication: `Authorization: Bearer <token>` (or `?access_token=` for a
browser's WebSocket and EventSource). Scopes: `read` (every GET, the live
updates, metrics), `enqueue` (`POST /api/jobs`), `operate` (queue and job
actions). A server started without tokens listens on loopback only and
grants every scope.
"""

REDIS_CONNECTIONS = 100
"""The server's Redis connections at most (each queue followed live keeps one busy)."""
REDIS_POOL_WAIT_S = 20.0
"""How long a request waits for one of them when all are busy (hundreds of live
clients subscribing at once) before it gets 503: it waits rather than fails."""


def create_app(
    url: str,
    prefix: str = "messai",
    config: ApiConfig | None = None,
    *,
    redis: Redis | None = None,
) -> FastAPI:
    """The API for the Redis at ``url`` (or the given client, which stays the caller's)."""
    config = config or ApiConfig()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = redis
        if client is None:
            client = connect(url, max_connections=REDIS_CONNECTIONS, pool_wait_s=REDIS_POOL_WAIT_S)
        app.state.redis = client
        app.state.live = LiveHub(client, prefix, config.counts_every_s)
        app.state.metrics = metrics.MetricsState()
        try:
            yield
        finally:
            await app.state.live.close()
            if redis is None:
                await client.aclose()

    app = FastAPI(
        title="messai-console API",
        version=__version__,
        description=DESCRIPTION,
        default_response_class=SafeJSONResponse,
        lifespan=lifespan,
    )
    app.state.url = url
    app.state.prefix = prefix
    app.state.config = config
    app.include_router(routes.router)
    app.include_router(stream.router)
    _add_metrics(app)
    _add_follow_page(app)
    _add_error_handlers(app)
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
        )
    app.add_middleware(BodySizeLimit, max_bytes=config.max_body_bytes)
    return app


def _add_metrics(app: FastAPI) -> None:
    @app.get(
        "/metrics",
        tags=["metrics"],
        summary="Prometheus metrics",
        response_class=Response,
        dependencies=[Depends(require("read"))],
        responses={200: {"content": {"text/plain": {}}}},
    )
    async def prometheus_metrics(request: Request) -> Response:
        """Jobs per state per queue, completed and failed totals, run time, oldest waiting
        age, workers online and silent; a fixed number of Redis commands per scrape."""
        body = await metrics.scrape(
            request.app.state.redis, request.app.state.prefix, request.app.state.metrics
        )
        return Response(body, media_type=metrics.CONTENT_TYPE)


def _add_follow_page(app: FastAPI) -> None:
    page = resources.files("messai_console.api").joinpath("static/follow.html").read_text()

    @app.get("/follow", response_class=HTMLResponse, include_in_schema=False)
    async def follow_page() -> HTMLResponse:
        # A static page: it holds no data, reads the token from the URL's fragment
        # (never sent to the server) and shows what it receives as text only.
        return HTMLResponse(
            page,
            headers={
                "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
                "style-src 'unsafe-inline'; connect-src 'self'",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )


def _add_error_handlers(app: FastAPI) -> None:
    def answer(status: int, detail: Any, headers: dict[str, str] | None = None) -> Response:
        return SafeJSONResponse({"detail": detail}, status_code=status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        return answer(exc.status_code, exc.detail, dict(exc.headers or {}) or None)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> Response:
        problems = [
            {
                "loc": list(error.get("loc", ())),
                "msg": str(error.get("msg", "")),
                "type": str(error.get("type", "")),
            }
            for error in exc.errors()
        ]
        return answer(422, problems)

    @app.exception_handler(EngineError)
    async def engine_error(_request: Request, exc: EngineError) -> Response:
        if isinstance(exc, JobNotFoundError | QueueNotFoundError):
            return answer(404, str(exc))
        if isinstance(exc, InvalidStateError):
            return answer(409, str(exc))
        if isinstance(exc, InvalidJobError):
            return answer(422, str(exc))
        return answer(400, str(exc))

    @app.exception_handler(RedisError)
    async def redis_error(_request: Request, exc: RedisError) -> Response:
        if isinstance(exc, RedisConnectionError | RedisTimeoutError):
            return answer(503, "Redis is unreachable; try again")
        return answer(502, f"Redis refused the request: {str(exc)[:200]}")


_TOKEN_IN_QUERY = re.compile(r"(access_token=)[^&\s]*")


class RedactTokens(logging.Filter):
    """Access-log lines show the path without an ``access_token`` value."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_IN_QUERY.sub(r"\1***", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True
