"""What every script contract shares: named arguments packed in header order.

A script's contract is a frozen dataclass, a subclass of :class:`Request`:
its fields, in order, are the script's ARGV from ``ARGV[2]`` on
(``ARGV[1]`` is always the queue's key prefix, added by the caller that
holds the keys). A field whose value is a tuple of dataclass items is a
repeated group: it is sent as its length, then each item's fields in order.

The script's header says the same thing in Lua, one ARGV per line::

    ARGV[1] prefix        the queue's key prefix
    ARGV[2] worker        id of the calling worker
    ARGV[3] started       number of (id, token) pairs that follow
    ARGV[+] started * (id, token)
    ARGV[+] outcomes      number of outcomes that follow
    ARGV[+] outcomes * (id, token, kind, ...)
    Returns: ...
    Emits: job:active, ...
    Writes: active, events, job, ...

and ``tests/engine/test_script_contracts.py`` holds the two together: the
names, their order, the groups, ``EMITS`` and ``WRITES``. Adding an
argument means a field here, a line in the header and its use in the
script; the test fails until all three agree.

Packing is generic (the dataclass fields are the contract) and cheap: each
class's fields and their types are read once into a packer (``_Packer``)
that reads all of an object's values in one compiled call.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from enum import Enum
from typing import Any, ClassVar

from redis.asyncio import Redis

from engine.keys import QueueKeys
from engine.scripts import Script, scripts
from engine.wire import Arg

ARGV_PREFIX = "prefix"
"""``ARGV[1]`` of every script: the queue's key prefix (``messai:{name}:``)."""


def _packed(value: Any) -> Arg:
    """One argument as Redis receives it: booleans as "1"/"", enums by value."""
    if value is True:
        return "1"
    if value is False or value is None:
        return ""
    if isinstance(value, Enum):
        return value.value  # type: ignore[no-any-return]
    return value  # type: ignore[no-any-return]


def _flag(value: Any) -> Arg:
    return "1" if value else ""


def _converter(hint: Any) -> Callable[[Any], Arg] | None:
    """How a field of type ``hint`` is sent; None: as it is (str, int, float
    and their enums are sent as their value by the encoder)."""
    if hint is bool:
        return _flag
    options = typing.get_args(hint)
    if bool in options or type(None) in options:
        return _packed
    if isinstance(hint, type) and issubclass(hint, Enum) and not issubclass(hint, str | int):
        return _packed
    return None


class _Packer:
    """Packs one dataclass (a request, or an item of a repeated group) in
    field order. Built once per class from its fields and their types."""

    __slots__ = ("groups", "read")

    def __init__(self, cls: type) -> None:
        names = [f.name for f in dataclasses.fields(cls)]
        hints = _resolved_hints(cls)
        converts: dict[str, Callable[[Any], Arg]] = {}
        groups: list[tuple[int, _Packer]] = []
        for i, name in enumerate(names):
            item = _group_item(hints[name])
            if item is not None:
                groups.append((i, _packer(item)))
                continue
            convert = _converter(hints[name])
            if convert is not None:
                converts[name] = convert
        self.read = _reader(names, converts)
        """The field values in order, converted: one call, one tuple."""
        self.groups = tuple(groups)

    def pack_into(self, item: Any, out: list[Arg]) -> None:
        values = self.read(item)
        if not self.groups:
            out.extend(values)
            return
        start = 0
        for i, packer in self.groups:
            out.extend(values[start:i])
            members = values[i]
            out.append(len(members))
            for member in members:
                packer.pack_into(member, out)
            start = i + 1
        out.extend(values[start:])


def _reader(names: list[str], converts: dict[str, Callable[[Any], Arg]]) -> Callable[[Any], Any]:
    """``lambda o: (o.a, _flag(o.b), ...)``, compiled once per class as
    dataclasses compiles its ``__init__``: the finish call of a busy worker
    packs thousands of outcomes a second, and this is several times cheaper
    than a loop over the fields. The names are the class's field names."""
    parts = [f"_{name}(o.{name})" if name in converts else f"o.{name}" for name in names]
    namespace: dict[str, Any] = {f"_{name}": convert for name, convert in converts.items()}
    return eval(f"lambda o: ({', '.join(parts)},)", namespace)  # type: ignore[no-any-return]


_PACKERS: dict[type, _Packer] = {}


def _packer(cls: type) -> _Packer:
    packer = _PACKERS.get(cls)
    if packer is None:
        packer = _PACKERS[cls] = _Packer(cls)
    return packer


class Request:
    """Base of every script's typed arguments (a frozen dataclass)."""

    SCRIPT: ClassVar[str]
    """Name of the script (``lua/<SCRIPT>.lua``)."""
    EMITS: ClassVar[tuple[str, ...]] = ()
    """Events the script may write to the queue's stream, as its header says."""
    WRITES: ClassVar[tuple[str, ...]] = ()
    """Keys the script may write, by role (``keys.py`` suffixes, ``job``,
    ``logs``, ``registry``...), as its header says."""

    def argv(self) -> list[Arg]:
        """``ARGV[2:]`` in header order (the caller puts the prefix first)."""
        out: list[Arg] = []
        _packer(type(self)).pack_into(self, out)
        return out

    def full_argv(self, prefix: Arg) -> list[Arg]:
        """The whole ARGV: ``prefix`` (``ARGV[1]``, the queue's key prefix),
        then :meth:`argv`, packed into one list."""
        out: list[Arg] = [prefix]
        _packer(type(self)).pack_into(self, out)
        return out


def argv_layout(cls: type[Request]) -> list[str | tuple[str, tuple[str, ...]]]:
    """The ARGV names of ``cls`` from ``ARGV[2]`` on: a plain name, or
    ``(group, item names)`` after the group's count for a repeated group.

    Repeated groups are found from the field's type annotation
    ``tuple[<Item>, ...]`` where ``<Item>`` is a dataclass."""
    hints = _resolved_hints(cls)
    layout: list[str | tuple[str, tuple[str, ...]]] = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        layout.append(f.name)
        item = _group_item(hints[f.name])
        if item is not None:
            layout.append((f.name, tuple(g.name for g in dataclasses.fields(item))))
    return layout


def _resolved_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _group_item(hint: Any) -> type | None:
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis and dataclasses.is_dataclass(args[0]):
            return args[0]  # type: ignore[return-value]
    return None


async def call(client: Redis, keys: QueueKeys, request: Request) -> Any:
    """Run ``request``'s script on ``client`` for the queue of ``keys`` (redis-py);
    the reply is raw, for the contract's parser."""
    script: Script = getattr(scripts(), request.SCRIPT)
    return await script(client, keys.script_keys, request.full_argv(keys.base))
