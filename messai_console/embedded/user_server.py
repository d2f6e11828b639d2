"""The user's own redis-server: started on demand, private to the user, reused by later processes.

It lives in the user's data directory (see :mod:`messai_console.settings`). A
small state file (`server.json`, mode 600) tells later processes where to find
it; a file lock makes concurrent starts agree on one server.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from messai_console.embedded.server import (
    LOG_FILE,
    PID_FILE,
    SOCKET_NAME,
    EmbeddedRedisError,
    EmbeddedServer,
    is_redis_process,
    pid_alive,
    server_pid,
    start_server,
)
from messai_console.settings import settings

__all__ = ["embedded_status", "ensure_embedded", "stop_embedded"]

STATE_FILE = "server.json"
LOCK_FILE = ".lock"
_POLL_INTERVAL = 0.01
_LOCK_TIMEOUT = 60.0
#: How long to wait for a server that is alive but not answering (say, loading a big
#: AOF) before giving up, rather than starting a second server on the same files.
UNRESPONSIVE_WAIT = 30.0


def _resolve_dir(data_dir: Path | None) -> Path:
    base = data_dir if data_dir is not None else settings().data.data_dir
    return Path(base).expanduser().resolve()


@contextlib.contextmanager
def _locked(data_dir: Path, timeout: float = _LOCK_TIMEOUT) -> Iterator[None]:
    """An exclusive `flock` on `<data_dir>/.lock` (released if the holder dies)."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                if time.monotonic() >= deadline:
                    raise EmbeddedRedisError(
                        f"timed out waiting for the lock {data_dir / LOCK_FILE}"
                    ) from None
                time.sleep(_POLL_INTERVAL)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _read_state(data_dir: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and isinstance(state.get("url"), str) else None


def _write_state(server: EmbeddedServer) -> None:
    state = {
        "url": server.url,
        "pid": server.pid,
        "data_dir": str(server.data_dir),
        "socket_path": str(server.socket_path) if server.socket_path else None,
        "port": server.port,
        "binary": server.binary,
        "started_at": server.started_at,
    }
    path = server.data_dir / STATE_FILE
    tmp = path.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(state, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


def _server_from_state(data_dir: Path, state: dict[str, Any], pid: int) -> EmbeddedServer:
    socket_path = state.get("socket_path")
    port = state.get("port")
    binary = state.get("binary")
    started_at = state.get("started_at")
    return EmbeddedServer(
        url=str(state["url"]),
        pid=pid,
        data_dir=data_dir,
        socket_path=Path(socket_path) if isinstance(socket_path, str) else None,
        persistent=True,
        port=port if isinstance(port, int) else None,
        binary=binary if isinstance(binary, str) else None,
        started_at=float(started_at) if isinstance(started_at, int | float) else time.time(),
    )


def _find_running(data_dir: Path) -> EmbeddedServer | None:
    """The server recorded in the state file (or on the data dir's socket), if it answers."""
    state = _read_state(data_dir)
    if state is not None:
        pid = server_pid(state["url"])
        if pid is not None:
            return _server_from_state(data_dir, state, pid)
    # No (valid) state file, but a server may still own the socket: never start a
    # second server on the same AOF.
    socket_path = data_dir / SOCKET_NAME
    url = f"unix://{quote(str(socket_path))}"
    if socket_path.exists() and (state is None or state["url"] != url):
        pid = server_pid(url)
        if pid is not None:
            server = EmbeddedServer(url=url, pid=pid, data_dir=data_dir, socket_path=socket_path)
            _write_state(server)
            return server
    return None


def _previous_pid(data_dir: Path) -> int | None:
    """The pid of a redis-server from an earlier start that is still alive, if any."""
    candidates: list[int] = []
    state = _read_state(data_dir)
    if state is not None and isinstance(state.get("pid"), int):
        candidates.append(state["pid"])
    with contextlib.suppress(OSError, ValueError):
        candidates.append(int((data_dir / PID_FILE).read_text().strip()))
    for pid in candidates:
        if pid != os.getpid() and pid_alive(pid) and is_redis_process(pid):
            try:  # our servers run in their data dir; a recycled pid would not
                if Path(f"/proc/{pid}/cwd").resolve() != data_dir:
                    continue
            except OSError:
                pass  # no /proc (macOS) or not ours to inspect
            return pid
    return None


def ensure_embedded(data_dir: Path | None = None) -> tuple[EmbeddedServer, bool]:
    """The user's persistent embedded server: reuse the running one or start it.

    Returns `(server, started)`; `started` is False when an existing server was reused.
    """
    data_dir = _resolve_dir(data_dir)
    server = _find_running(data_dir)
    if server is not None:
        return server, False
    with _locked(data_dir):
        server = _find_running(data_dir)  # another process may have won the race
        if server is not None:
            return server, False
        stale = _previous_pid(data_dir)
        if stale is not None:
            # Alive but not answering (e.g. still loading a large AOF): give it time
            # rather than starting a second server on the same files.
            deadline = time.monotonic() + UNRESPONSIVE_WAIT
            while pid_alive(stale) and time.monotonic() < deadline:
                server = _find_running(data_dir)
                if server is not None:
                    return server, False
                time.sleep(0.05)
            if pid_alive(stale):
                raise EmbeddedRedisError(
                    f"a redis-server (pid {stale}) is running in {data_dir} but does not "
                    f"answer; stop it and retry (log {data_dir / LOG_FILE})"
                )
        state = _read_state(data_dir)
        binary = state.get("binary") if state else None
        if not (isinstance(binary, str) and os.access(binary, os.X_OK)):
            binary = None  # keep the binary that wrote the AOF when it is still there
        server = start_server(
            data_dir, persistent=True, unix_socket=True, redis_server_binary=binary
        )
        _write_state(server)
        return server, True


def embedded_status(data_dir: Path | None = None) -> EmbeddedServer | None:
    """The user's embedded server if it is running and answering, else None."""
    return _find_running(_resolve_dir(data_dir))


def stop_embedded(data_dir: Path | None = None) -> bool:
    """Stop the user's embedded server. Returns False when none was running."""
    data_dir = _resolve_dir(data_dir)
    with _locked(data_dir):
        server = _find_running(data_dir)
        if server is None:
            stale = _previous_pid(data_dir)
            if stale is None:
                return False
            server = EmbeddedServer(
                url="unix://" + quote(str(data_dir / SOCKET_NAME)),
                pid=stale,
                data_dir=data_dir,
                socket_path=data_dir / SOCKET_NAME,
            )
        server.stop()
        with contextlib.suppress(OSError):
            (data_dir / STATE_FILE).unlink(missing_ok=True)
        return True
