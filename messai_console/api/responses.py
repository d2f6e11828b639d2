"""JSON answers that stay JSON wherever they land.

Job data, names and errors are untrusted. JSON already escapes control
characters; on top of that ``<``, ``>`` and ``&`` (and the two JavaScript
line separators) are written as ``\\u`` escapes, so no answer ever holds a
literal tag, even if something renders it as HTML, and ``nosniff`` stops a
browser from guessing another type.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

_ESCAPES = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


def safe_json_bytes(content: Any) -> bytes:
    """``content`` as JSON with the characters above escaped (they only occur in strings)."""
    body = orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
    for raw, escaped in _ESCAPES:
        if raw in body:
            body = body.replace(raw, escaped)
    return body


def safe_json_text(content: Any) -> str:
    return safe_json_bytes(content).decode("utf-8")


class SafeJSONResponse(JSONResponse):
    """The API's default response class."""

    def __init__(self, content: Any, status_code: int = 200, **kwargs: Any) -> None:
        super().__init__(content, status_code, **kwargs)
        self.headers["X-Content-Type-Options"] = "nosniff"

    def render(self, content: Any) -> bytes:
        return safe_json_bytes(content)
