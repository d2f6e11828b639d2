"""JSON encoding of job data and results (orjson; never pickle)."""

from __future__ import annotations

import math
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
    # orjson writes NaN and Infinity as null (JSON has neither): refuse them
    # rather than store something else. Only output with a null can hold one.
    if b"null" in encoded and _has_non_finite(value):
        raise InvalidJobError(f"{what} holds NaN or Infinity, which JSON cannot represent")
    if len(encoded) > MAX_DATA_BYTES:
        raise InvalidJobError(f"{what} is {len(encoded)} bytes; the limit is {MAX_DATA_BYTES}")
    return encoded.decode()


def _has_non_finite(value: Any) -> bool:
    """Whether a float that is NaN or infinite is anywhere in ``value`` (which
    orjson encoded, so it nests at most 255 deep)."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(item) for item in value.values()) or any(
            isinstance(key, float) and not math.isfinite(key) for key in value
        )
    if isinstance(value, list | tuple):
        return any(_has_non_finite(item) for item in value)
    return False


def loads(text: str | bytes | None) -> Any:
    """Parse JSON written by :func:`dumps`; empty or missing gives None."""
    if not text:
        return None
    return orjson.loads(text)
