"""JSON encoding of job data and results (orjson; never pickle)."""

from __future__ import annotations

from typing import Any

import orjson

from engine.errors import InvalidJobError

MAX_DATA_BYTES = 16 * 1024 * 1024


def dumps(value: Any, what: str = "job data") -> str:
    """Serialise ``value`` to a JSON string, or raise InvalidJobError."""
    try:
        encoded = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError as exc:
        raise InvalidJobError(f"{what} is not JSON-serialisable: {exc}") from None
    if len(encoded) > MAX_DATA_BYTES:
        raise InvalidJobError(f"{what} is {len(encoded)} bytes; the limit is {MAX_DATA_BYTES}")
    return encoded.decode()


def loads(text: str | bytes | None) -> Any:
    """Parse JSON written by :func:`dumps`; empty or missing gives None."""
    if not text:
        return None
    return orjson.loads(text)
