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
class's field names are read once into an ``attrgetter``.
"""

from __future__ import annotations

import dataclasses
import operator
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


def _getter(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    names = [f.name for f in dataclasses.fields(cls)]
    if len(names) == 1:
        single = operator.attrgetter(names[0])
        return lambda item: (single(item),)
    return operator.attrgetter(*names)


class Request:
    """Base of every script's typed arguments (a frozen dataclass)."""

    SCRIPT: ClassVar[str]
    """Name of the script (``lua/<SCRIPT>.lua``)."""
    EMITS: ClassVar[tuple[str, ...]] = ()
    """Events the script may write to the queue's stream, as its header says."""
    WRITES: ClassVar[tuple[str, ...]] = ()
    """Keys the script may write, by role (``keys.py`` suffixes, ``job``,
    ``logs``, ``registry``...), as its header says."""

    _get: ClassVar[Callable[[Any], tuple[Any, ...]]]

    def argv(self) -> list[Arg]:
        """``ARGV[2:]`` in header order (the caller puts the prefix first)."""
        cls = type(self)
        getter = cls.__dict__.get("_get")
        if getter is None:
            getter = _getter(cls)
            cls._get = getter
        out: list[Arg] = []
        for value in getter(self):
            if isinstance(value, tuple) and (not value or dataclasses.is_dataclass(value[0])):
                out.append(len(value))
                if value:
                    item_getter = _getter(type(value[0]))
                    for item in value:
                        out.extend(_packed(v) for v in item_getter(item))
            else:
                out.append(_packed(value))
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
    return await script(client, keys.script_keys, [keys.base, *request.argv()])
