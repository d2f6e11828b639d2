"""Request packing of the engine's pipelined connection."""

from __future__ import annotations

from typing import Any

from engine.wire import encode_arg, pack_args


def test_pack_args_gives_the_bytes_of_encode_arg() -> None:
    values: list[Any] = [
        "",
        "noop",
        "é ✓ 𝄞",
        '{"blob": "' + "x" * 5000 + '"}',
        b"\x00\xff",
        0,
        -3,
        2**70,
        0.1,
        1e20,
        -0.0,
        float("inf"),
        True,  # hiredis refuses bools; they are packed as before ("True")
    ]
    for value in values:
        assert pack_args([value]) == encode_arg(value), value
    assert pack_args(values) == b"".join(map(encode_arg, values))
    assert pack_args([]) == b""
