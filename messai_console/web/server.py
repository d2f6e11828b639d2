"""textual-serve's server with the API's bearer tokens in front of every page.

A browser cannot send a header when it opens a page, so the first visit
carries the token in the address (``/?token=...``); the server checks it,
keeps it in an HttpOnly, SameSite=Strict cookie and redirects to ``/`` so it
leaves the address bar. Scripts may send ``Authorization: Bearer`` instead.
Access logs are off: a logged address would hold the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from messai_console.api.auth import TokenTable, bearer_token

COOKIE = "messai_console_token"
CONSOLE_EXIT_S = 10.0
"""How long a console process gets to quit when its browser leaves, before it is killed."""
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def console_command() -> str:
    return f"{sys.executable} -m messai_console.web.console"


class ConsoleWebServer(Server):
    """Serves the console; with tokens, only to holders of ``scope``."""

    def __init__(self, tokens: TokenTable, scope: str, host: str, port: int) -> None:
        super().__init__(console_command(), host=host, port=port, title="messai-console")
        self.tokens = tokens
        self.scope = scope
        self.sessions: set[ReapedAppService] = set()

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """textual-serve's handler, with console processes that are waited for when
        they end (it leaves them to the garbage collector) and stopped with the server."""
        websocket = web.WebSocketResponse(heartbeat=15)
        width = to_int(request.query.get("width", "80"), 80)
        height = to_int(request.query.get("height", "24"), 24)
        await websocket.prepare(request)

        async def close() -> None:
            await websocket.close()

        service = ReapedAppService(
            self.command,
            write_bytes=websocket.send_bytes,
            write_str=websocket.send_str,
            close=close,
            download_manager=self.download_manager,
            debug=self.debug,
        )
        self.sessions.add(service)
        try:
            await service.start(width, height)
            await self._process_messages(websocket, service)
        except asyncio.CancelledError:
            await websocket.close()
        finally:
            self.sessions.discard(service)
            await asyncio.shield(service.stop())
        return websocket

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self._authenticate)
        return app

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self.tokens.enabled:
            return await handler(request)
        from_address = request.query.get("token")
        presented = (
            bearer_token(request.headers.get("Authorization"))
            or from_address
            or request.cookies.get(COOKIE)
        )
        if not presented:
            return _refuse(401, "authentication required: open /?token=<token>")
        principal = self.tokens.lookup(presented)
        if principal is None:
            return _refuse(401, "unknown token")
        if not principal.allows(self.scope):
            return _refuse(403, f"this token lacks the {self.scope!r} scope")
        if from_address:
            response = web.Response(status=303, headers={"Location": request.rel_url.path})
            response.set_cookie(COOKIE, presented, httponly=True, samesite="Strict", path="/")
            return response
        return await handler(request)

    async def run(self, started: asyncio.Event | None = None) -> None:
        """Serve until cancelled (no access log: it would record tokens)."""
        runner = web.AppRunner(await self._make_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        if started is not None:
            started.set()
        try:
            await asyncio.Event().wait()
        finally:
            for service in list(self.sessions):
                with contextlib.suppress(Exception):
                    await service.stop()
            with contextlib.suppress(Exception):
                await runner.cleanup()


class ReapedAppService(AppService):
    """A console process that is waited for (killed if it will not quit) when it stops."""

    async def stop(self) -> None:
        process = self._process
        with contextlib.suppress(TimeoutError, ConnectionError, RuntimeError):
            await asyncio.wait_for(super().stop(), CONSOLE_EXIT_S)
        if process is not None and process.returncode is None:
            try:
                await asyncio.wait_for(process.wait(), CONSOLE_EXIT_S)
            except TimeoutError:
                process.kill()
                await process.wait()


def _refuse(status: int, detail: str) -> web.Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return web.json_response({"detail": detail}, status=status, headers=headers)
