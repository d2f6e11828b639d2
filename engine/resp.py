"""Packing requests in RESP, the protocol Redis speaks, for the hand-written
connection (:mod:`engine.wire`)."""

from __future__ import annotations

from collections.abc import Sequence

import hiredis

Arg = str | int | float | bytes
"""One argument of a Redis command."""


def encode_arg(value: Arg) -> bytes:
    """One RESP bulk string."""
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str):
        data = value.encode()
    else:
        data = repr(value).encode() if isinstance(value, float) else str(value).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def pack(args: Sequence[Arg]) -> bytes:
    """A whole RESP request."""
    return b"*%d\r\n" % len(args) + b"".join(encode_arg(arg) for arg in args)


def pack_args(args: Sequence[Arg]) -> bytes:
    """The bulk strings of ``args``, without the array header: for requests
    whose head is packed once. The same bytes as :func:`encode_arg` gives,
    packed by hiredis when it takes the arguments (about four times faster)."""
    if not args:
        return b""
    try:
        # hiredis's stub says a 1-tuple; it takes any number of arguments
        packed: bytes = hiredis.pack_command(tuple(args))  # type: ignore[arg-type]
    except (TypeError, ValueError):  # what hiredis refuses (bool, None...) is packed as before
        return b"".join(map(encode_arg, args))
    return packed[packed.index(b"\n") + 1 :]


def unpack(request: bytes) -> list[bytes]:
    """The arguments of one packed request (the inverse of :func:`pack`)."""
    reader = hiredis.Reader()
    reader.feed(request)
    args = reader.gets()
    if not isinstance(args, list) or reader.gets() is not False:
        raise ValueError("not one packed request")
    return args
