"""A TLS verification failure says so (it used to read "Operation not
permitted", the text of the errno an SSL error carries): a real redis-server
with TLS, a CA and certificates made with openssl for the test."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
from typer.testing import CliRunner

from engine.connection import (
    RedisUnavailable,
    check_connection,
    check_connection_sync,
    connect,
    connect_sync,
)
from messai_console.cli import app
from tests.helpers import RedisFactory, find_free_port

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _ca(directory: Path, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-keyout", f"{name}.key", "-out", f"{name}.crt", "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip


@pytest.fixture
def tls_server(tmp_path: Path, redis_factory: RedisFactory) -> tuple[str, Path, Path]:
    """(a rediss:// URL of a TLS server, its CA, another CA)."""
    _ca(tmp_path, "ca")
    _ca(tmp_path, "other")
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost", cwd=tmp_path,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "1", cwd=tmp_path,
    )  # fmt: skip
    port = find_free_port()
    tls = [
        "--tls-port", str(port),
        "--tls-cert-file", str(tmp_path / "server.crt"),
        "--tls-key-file", str(tmp_path / "server.key"),
        "--tls-ca-cert-file", str(tmp_path / "ca.crt"),
        "--tls-auth-clients", "no",
    ]  # fmt: skip
    try:
        server = redis_factory(extra_args=tls)
    except Exception as exc:  # a redis-server built without TLS refuses the options
        pytest.skip(f"redis-server without TLS: {exc}")
    password = server.url.split("@")[0].rsplit(":", 1)[-1] if "@" in server.url else ""
    auth = f":{quote(password)}@" if password else ""
    return f"rediss://{auth}localhost:{port}/0", tmp_path / "ca.crt", tmp_path / "other.crt"


@pytest.mark.asyncio
async def test_a_certificate_from_an_unknown_ca_says_verify_failed(
    tls_server: tuple[str, Path, Path],
) -> None:
    url, ca, other = tls_server
    good = connect(f"{url}?ssl_ca_certs={ca}", retries=0)
    try:
        await check_connection(good)  # the server does speak TLS
    finally:
        await good.aclose()
    bad = connect(f"{url}?ssl_ca_certs={other}", retries=0)
    try:
        with pytest.raises(RedisUnavailable) as caught:
            await check_connection(bad)
    finally:
        await bad.aclose()
    message = str(caught.value)
    assert "TLS certificate verify failed" in message
    assert "Operation not permitted" not in message
    with (
        connect_sync(f"{url}?ssl_ca_certs={other}", retries=0) as client,
        pytest.raises(RedisUnavailable, match="TLS certificate verify failed"),
    ):
        check_connection_sync(client)


def test_the_cli_says_verify_failed_in_one_line(tls_server: tuple[str, Path, Path]) -> None:
    url, _ca_file, other = tls_server
    result = CliRunner().invoke(
        app, ["--redis-url", f"{url}?ssl_ca_certs={other}", "queue", "stats", "q"]
    )
    assert result.exit_code == 3
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "TLS certificate verify failed" in result.stderr
