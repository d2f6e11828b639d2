"""Headless Chromium driven over the DevTools protocol (a WebSocket), for the browser tests.

Chromium comes from the distribution's packages (``apt-get install -y
chromium``); the flags keep it off the network, as this machine's closed
network refuses its background connections.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import websockets

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--window-size=1280,800",
)


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """One tab: navigate, evaluate JavaScript, take a screenshot."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        """Protocol events received so far (Network.webSocketFrameReceived...)."""

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        await self.socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            reply = json.loads(await asyncio.wait_for(self.socket.recv(), 30))
            if "method" in reply:
                self.events.append(reply)
            elif reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result

    async def navigate(self, url: str) -> None:
        await self.call("Page.navigate", url=url)

    async def evaluate(self, expression: str) -> Any:
        reply = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return reply.get("result", {}).get("value")

    async def wait_for(self, expression: str, timeout: float = 30.0) -> Any:
        """Evaluate ``expression`` until it is truthy; its value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                where = await self.evaluate("location.href + ' ' + document.body.innerText")
                raise AssertionError(f"never true in the page: {expression} (at {where!r})")
            await asyncio.sleep(0.1)

    def websocket_text(self) -> str:
        """What the page's WebSockets received so far (after ``Network.enable``), as text."""
        parts = []
        for event in self.events:
            if event["method"] == "Network.webSocketFrameReceived":
                response = event["params"]["response"]
                data = response["payloadData"]
                if response.get("opcode") == 2:
                    data = base64.b64decode(data).decode("utf-8", "replace")
                parts.append(data)
        return "".join(parts)

    async def screenshot(self, path: Path) -> None:
        reply = await self.call("Page.captureScreenshot", format="png")
        await asyncio.to_thread(path.write_bytes, base64.b64decode(reply["data"]))


def _launch(command: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Page]:
    """A fresh headless Chromium with its own profile; stopped on the way out."""
    binary = chromium_path()
    assert binary is not None
    profile = Path(tempfile.mkdtemp(prefix="messai-chromium-"))
    process = _launch([binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"])
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = asyncio.get_running_loop().time() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            assert process.poll() is None, "chromium exited at start"
            assert asyncio.get_running_loop().time() < deadline, "chromium did not start"
            await asyncio.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        async with httpx.AsyncClient() as client:
            targets = (await client.get(f"http://127.0.0.1:{port}/json")).json()
        page_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        async with websockets.connect(page_url, max_size=None) as socket:
            page = Page(socket)
            await page.call("Page.enable")
            yield page
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        shutil.rmtree(profile, ignore_errors=True)
