"""A real browser: headless Chromium opens the follow page and the console.

Set MESSAI_SCREENSHOTS to a directory (``just screenshots`` does) to keep the
pictures there as browser-follow.png and browser-console.png.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import httpx
import hypothesis  # noqa: F401
import pytest
import redis.asyncio

from engine import JobContext, Queue, Worker
from messai_console.web import console
from messai_console.web.server import ConsoleWebServer
from tests.api.browser import chromium, chromium_path
from tests.api.conftest import ENQUEUE, READ, LiveServer, free_port, token_table

pytestmark = pytest.mark.skipif(
    chromium_path() is None,
    reason="chromium is not installed (Debian: apt-get install -y chromium)",
)

# Loaded before the console test on purpose: after textual-serve's jinja2 templates
# are compiled in this process, CPython 3.11.7's ast.parse failed now and then
# ("AST constructor recursion depth mismatch") when hypothesis's pytest plugin
# imported it at the session's end (seen when this module runs alone).

QUEUE = "paper-processing"
ANSI = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")


def picture(tmp_path: Path, name: str) -> Path:
    directory = os.environ.get("MESSAI_SCREENSHOTS")
    return Path(directory) / name if directory else tmp_path / name


async def test_the_follow_page_shows_a_running_job_live(
    live_server: LiveServer, redis_async: redis.asyncio.Redis, tmp_path: Path
) -> None:
    queue = Queue(QUEUE, redis_async)
    hostile = "<script>document.title='owned'</script>"
    job = await queue.add("extract", {"paper_id": "paper-123", "note": hostile})
    halfway, finish = asyncio.Event(), asyncio.Event()

    async def extract(ctx: JobContext) -> dict[str, int]:
        await ctx.progress(50, "reading pages")
        halfway.set()
        await finish.wait()
        return {"pages": 12}

    url = f"{live_server.base_url}/follow?queue={QUEUE}&id={job.id}#token={READ}"
    async with chromium() as page:
        await page.navigate(url)
        await page.wait_for("document.getElementById('connection').textContent === 'open'")
        await page.wait_for("document.getElementById('state').textContent === 'waiting'")
        worker = Worker(QUEUE, redis_async, {"extract": extract}, shutdown_grace_ms=2000)
        running = asyncio.create_task(worker.run())
        try:
            await asyncio.wait_for(halfway.wait(), 20)
            await page.wait_for("document.getElementById('state').textContent === 'active'")
            progress = await page.wait_for(
                "document.getElementById('progress').textContent.includes('50')"
                " && document.getElementById('progress').textContent"
            )
            assert progress == "50% reading pages"
            finish.set()
            await page.wait_for("document.getElementById('state').textContent === 'completed'")
            await page.wait_for("document.getElementById('result').textContent !== ''")
        finally:
            finish.set()
            worker.request_stop()
            await asyncio.wait_for(running, 20)
        shown = await page.evaluate(
            "({result: document.getElementById('result').textContent,"
            " data: document.getElementById('data').textContent,"
            " scripts: document.scripts.length, title: document.title,"
            " log: Array.from(document.querySelectorAll('#log li')).map(li => li.textContent)})"
        )
        await page.screenshot(picture(tmp_path, "browser-follow.png"))
    assert shown["result"] == '{"pages":12}'
    assert hostile in shown["data"], "job data is shown as text"
    assert shown["scripts"] == 1 and shown["title"] != "owned"
    assert shown["log"][0] == "job:active -> active" and shown["log"][-1] == (
        "job:completed -> completed"
    )


async def test_the_console_opens_in_the_browser_read_only_behind_a_token(
    redis_url: str,
    redis_async: redis.asyncio.Redis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await Queue(QUEUE, redis_async).add("extract", {"paper_id": "paper-123"})
    monkeypatch.setenv(console.URL_VARIABLE, redis_url)
    monkeypatch.setenv(console.READONLY_VARIABLE, "1")
    port = free_port()
    server = ConsoleWebServer(token_table(), "read", "127.0.0.1", port)
    started = asyncio.Event()
    serving = asyncio.create_task(server.run(started))
    try:
        await asyncio.wait_for(started.wait(), 20)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/")).status_code == 401
            assert (await client.get(f"/?token={ENQUEUE}")).status_code == 403
            assert (await client.get("/ws")).status_code == 401
        async with chromium() as page:
            await page.call("Network.enable")
            await page.navigate(f"{base}/?token={READ}")
            await page.wait_for("document.querySelector('.textual-terminal') !== null")
            assert await page.evaluate("location.search") == "", "the token left the address"
            deadline = asyncio.get_running_loop().time() + 90
            while True:
                screen = ANSI.sub("", page.websocket_text())
                if "READ-ONLY" in screen and QUEUE in screen:
                    break
                assert asyncio.get_running_loop().time() < deadline, screen[-2000:]
                await page.evaluate("1")  # let the protocol events in
                await asyncio.sleep(0.2)
            await asyncio.sleep(1)  # let the terminal paint the frame it received
            await page.screenshot(picture(tmp_path, "browser-console.png"))
            cookies = await page.call("Network.getCookies", urls=[base])
        assert [c["httpOnly"] for c in cookies["cookies"]] == [True]
    finally:
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving
