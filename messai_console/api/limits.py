"""Refuse request bodies over a size limit (413) before the application reads them."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from messai_console.api.responses import SafeJSONResponse


class BodySizeLimit:
    """ASGI middleware: a declared ``Content-Length`` over the limit is refused at once;
    a body without one (chunked) is counted as it arrives and refused when it passes."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0:
                    await self._refuse(scope, receive, send, 400, "invalid Content-Length")
                    return
                if declared > self.max_bytes:
                    await self._refuse(scope, receive, send, 413, self._message())
                    return
        received = 0
        answered = False

        async def counting_receive() -> Message:
            # Past the limit the 413 goes out at once and the application is told
            # the client left: it stops reading, and whatever it answers is dropped.
            nonlocal received, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    answered = True
                    await self._refuse(scope, receive, send, 413, self._message())
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not answered:
                await send(message)

        await self.app(scope, counting_receive, guarded_send)

    def _message(self) -> str:
        return f"request body over {self.max_bytes} bytes"

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, status: int, detail: str
    ) -> None:
        await SafeJSONResponse({"detail": detail}, status_code=status)(scope, receive, send)
