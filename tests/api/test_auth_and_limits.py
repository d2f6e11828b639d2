"""Tokens and scopes, 401/403 in JSON, CORS, the body size limit, and refused binds."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import redis.asyncio

from messai_console.api import ApiConfig
from messai_console.api.app import RedactTokens
from messai_console.api.auth import TokenConfigError, is_loopback, load_tokens
from tests.api.conftest import (
    ALL,
    ENQUEUE,
    OPERATE,
    READ,
    asgi_client,
    bearer,
    running_app,
    token_table,
)

PAPER = {"type": "paper.extract_pdf", "data": {"paper_id": "p-1"}}


async def test_no_token_or_an_unknown_one_is_401_in_json(secured: httpx.AsyncClient) -> None:
    for headers in (
        {},
        bearer("not-a-known-token-at-all"),
        {"Authorization": "Basic abc"},
        bearer(READ + "x"),
        bearer(READ[:-1]),
    ):
        response = await secured.get("/api/jobs", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["content-type"] == "application/json"
        assert response.headers["www-authenticate"] == "Bearer"
        assert "detail" in response.json()
        assert READ not in response.text


async def test_each_scope_opens_its_endpoints_only(
    secured: httpx.AsyncClient, redis_async: redis.asyncio.Redis
) -> None:
    refused = await secured.post("/api/jobs", json=PAPER, headers=bearer(READ))
    assert refused.status_code == 403 and "enqueue" in refused.json()["detail"]
    assert await redis_async.keys("*") == []
    created = await secured.post("/api/jobs", json=PAPER, headers=bearer(ENQUEUE))
    assert created.status_code == 201
    job_path = f"/api/jobs/paper-processing/{created.json()['id']}"

    assert (await secured.get(job_path, headers=bearer(ENQUEUE))).status_code == 403
    assert (await secured.get(job_path, headers=bearer(READ))).status_code == 200
    assert (await secured.get("/metrics", headers=bearer(OPERATE))).status_code == 403
    assert (await secured.get("/metrics", headers=bearer(READ))).status_code == 200

    pause = {"action": "pause"}
    assert (
        await secured.post("/api/jobs/paper-processing", json=pause, headers=bearer(READ))
    ).status_code == 403
    assert (
        await secured.post("/api/jobs/paper-processing", json=pause, headers=bearer(OPERATE))
    ).status_code == 200
    remove = {"action": "remove"}
    assert (await secured.post(job_path, json=remove, headers=bearer(ENQUEUE))).status_code == 403
    assert (await secured.post(job_path, json=remove, headers=bearer(ALL))).status_code == 200
    query = await secured.get(f"/api/jobs?access_token={READ}")
    assert query.status_code == 200


async def test_a_token_is_never_logged(
    secured: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        await secured.get("/api/jobs", headers=bearer(READ))
        await secured.get(f"/api/jobs?access_token={READ}")
        await secured.get("/api/jobs", headers=bearer("wrong-token-0123456789"))
    server_side = [r.getMessage() for r in caplog.records if not r.name.startswith("httpx")]
    assert not [line for line in server_side if READ in line or "wrong-token" in line]
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s"',
        ("1.2.3.4", "GET", f"/x?access_token={READ}&a=1"),
        None,
    )
    RedactTokens().filter(record)
    assert READ not in record.getMessage() and "access_token=***&a=1" in record.getMessage()


def test_token_entries_from_the_variable_and_a_file(tmp_path: Path) -> None:
    file = tmp_path / "tokens"
    file.write_text("# operators\noperate+read:operator-token-0123456789\n\n")
    table = load_tokens("read:reader-token-0123456789, enqueue:app-token-0123456789", file)
    assert len(table) == 3
    operator = table.lookup("operator-token-0123456789")
    assert operator is not None and operator.scopes == {"operate", "read"}
    assert table.lookup("app-token-0123456789") is not None
    assert table.lookup("operator-token-012345678") is None
    for bad in ("read", "write:some-long-token-value", "read:short", ":no-scope-token-value"):
        with pytest.raises(TokenConfigError) as problem:
            load_tokens(bad, None)
        assert "some-long-token-value" not in str(problem.value)
    with pytest.raises(TokenConfigError):
        load_tokens(None, tmp_path / "missing")


def test_loopback_hosts() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.168.1.10", "example.com"]))


def test_serve_refuses_to_listen_beyond_loopback_without_tokens(redis_url: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "messai_console.cli",
            "--redis-url",
            redis_url,
            "serve",
            "--host",
            "0.0.0.0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
    )
    assert result.returncode == 1
    assert "refusing to listen on 0.0.0.0 without tokens" in result.stderr


async def test_bodies_over_the_limit_are_413_and_write_nothing(
    redis_url: str, redis_async: redis.asyncio.Redis
) -> None:
    async with (
        running_app(redis_url, ApiConfig(max_body_bytes=200)) as app,
        asgi_client(app) as api,
    ):
        big = {"type": "paper.echo", "data": {"text": "x" * 300}}
        response = await api.post("/api/jobs", json=big)
        assert response.status_code == 413
        assert response.json() == {"detail": "request body over 200 bytes"}

        async def chunks():  # no Content-Length: counted as it arrives
            for _ in range(10):
                yield b"x" * 50

        streamed = await api.post(
            "/api/jobs", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
        small = await api.post("/api/jobs", json={"type": "paper.noop"})
        assert small.status_code == 201
    assert (await redis_async.zcard("messai:{paper-processing}:waiting")) + (
        await redis_async.llen("messai:{paper-processing}:waiting:list")
    ) == 1


async def test_cors_only_for_configured_origins(redis_url: str) -> None:
    config = ApiConfig(tokens=token_table(), cors_origins=["https://platform.example"])
    async with running_app(redis_url, config) as app, asgi_client(app) as api:
        allowed = await api.options(
            "/api/jobs",
            headers={
                "Origin": "https://platform.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert allowed.headers["access-control-allow-origin"] == "https://platform.example"
        other = await api.get(
            "/api/jobs", headers={"Origin": "https://evil.example", **bearer(READ)}
        )
        assert "access-control-allow-origin" not in other.headers
    async with running_app(redis_url, ApiConfig()) as app, asgi_client(app) as api:
        plain = await api.get("/api/jobs", headers={"Origin": "https://platform.example"})
        assert "access-control-allow-origin" not in plain.headers
