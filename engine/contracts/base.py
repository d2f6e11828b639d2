"""What every script contract shares: named arguments packed in header order.

A script's contract is a frozen dataclass, a subclass of :class:`Request`:
its fields, in order, are the script's ARGV from ``ARGV[2]`` on
(``ARGV[1]`` is always the key prefix, added by the caller that holds the
keys). A field typed ``tuple[<Item>, ...]`` is a repeated group: it is sent
as its length, then each item's fields in order; ``<Item>`` is a NamedTuple
(cheap to build: ``add_bulk`` builds thousands) or a dataclass. A field
typed ``tuple[str, ...]`` (or ``int``) is a repeated group of one value,
named by ``group_item("name")`` in the field's metadata.

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
    Flags: no-writes

and ``tests/engine/test_script_contracts.py`` holds the two together: the
names, their order, the groups, ``KEYS``, ``EMITS``, ``WRITES`` and
``FLAGS``, and
reads the script's source for the events it can emit and the keys it can
write. Adding an argument means a field here, a line in the header and its
use in the script; the test fails until all three agree.

KEYS: a script on one queue takes that queue's keys
(:attr:`engine.keys.QueueKeys.script_keys`, in the order
``lua/includes/common.lua`` lists) and is run with :func:`call`. A script
with keys of its own subclasses :class:`OwnKeysRequest`, names them in
``KEYS`` (its header's ``KEYS[n]`` lines) and builds them from the
deployment's prefix in :meth:`OwnKeysRequest.script_keys`; it is run with
:func:`call_own_keys`.

Replies: each script's reply has a parser next to its request,
``<Script>Reply.parse(raw)``; an error reply that a script returns on
purpose ("missing", "not-failed:<state>"...) is read by :meth:`Refusal.parse`.

Packing is generic (the dataclass fields are the contract) and as cheap as a
hand-written list: each class gets, on first use, a packing function
generated from its field types (booleans as "1"/"", enums by value, None as
"").
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from engine.cluster import is_cluster, register_queue, unregister_queue
from engine.keys import QueueKeys
from engine.scripts import Script, scripts
from engine.wire import Arg

ARGV_PREFIX = "prefix"
"""``ARGV[1]`` of every script: the key prefix (a queue's ``messai:{name}:``,
or the deployment's ``messai`` for scripts with keys of their own)."""

QUEUE_KEYS = "queue"
"""In :attr:`OwnKeysRequest.KEYS`: a queue's keys, all of them, in the order
``lua/includes/common.lua`` lists."""

_GROUP_ITEM = "group_item"


def group_item(name: str) -> Mapping[str, str]:
    """Field metadata naming the one value of a repeated group of scalars:
    ``ids: tuple[str, ...] = field(default=(), metadata=group_item("id"))``."""
    return {_GROUP_ITEM: name}


class Request:
    """Base of every script's typed arguments (a frozen dataclass)."""

    SCRIPT: ClassVar[str]
    """Name of the script (``lua/<SCRIPT>.lua``)."""
    EMITS: ClassVar[tuple[str, ...]] = ()
    """Events the script may write to a queue's stream, as its header says."""
    WRITES: ClassVar[tuple[str, ...]] = ()
    """Keys the script may write, by role (``keys.py`` suffixes, ``job``,
    ``logs``, ``registry``...), as its header says."""
    FLAGS: ClassVar[tuple[str, ...]] = ()
    """The script's function flags, as its header's ``Flags:`` line says:
    ``no-writes`` (a pure reader: runs on a full server and on a read-only
    replica) or ``allow-oom`` (frees memory: runs on a full server)."""
    KEYS: ClassVar[tuple[str, ...]] = ()
    """The script's KEYS by name, as its header's ``KEYS[n]`` lines say; empty
    for a script on one queue's keys (``QueueKeys.script_keys``)."""

    def argv(self) -> list[Arg]:
        """``ARGV[2:]`` in header order (the caller puts the prefix first)."""
        cls = type(self)
        return (_PACKERS.get(cls) or _compile_packers(cls))[0](self, [])

    def full_argv(self, prefix: Arg) -> list[Arg]:
        """The whole ARGV: ``prefix`` (``ARGV[1]``, the key prefix), then :meth:`argv`."""
        cls = type(self)
        return (_PACKERS.get(cls) or _compile_packers(cls))[0](self, [prefix])

    @classmethod
    def values_packer(cls) -> Callable[..., list[Arg]]:
        """A function ``(out, *field values) -> out + ARGV``: ``cls(*values).full_argv(prefix)``
        is ``packer([prefix], *values)``, without building the request. For a hot
        path (a frozen dataclass costs about a microsecond to build): give it a
        typed name next to the contract; the contract test holds the two equal."""
        return (_PACKERS.get(cls) or _compile_packers(cls))[1]


class OwnKeysRequest(Request):
    """A script whose KEYS are not one queue's: the request builds them."""

    def script_keys(self, prefix: str) -> list[str]:
        """KEYS in the order of :attr:`KEYS`, for the deployment ``prefix``."""
        raise NotImplementedError

    def cluster_keys(self, prefix: str) -> list[str]:
        """KEYS on a Redis Cluster, where all must share one slot: those of
        :meth:`script_keys` unless a script names its keys otherwise there."""
        return self.script_keys(prefix)

    def argv_prefix(self, prefix: str) -> str:
        """``ARGV[1]``: the deployment ``prefix`` unless the script works on a
        queue's keys too (then that queue's key prefix)."""
        return prefix


async def call(client: Redis, keys: QueueKeys, request: Request) -> Any:
    """Run ``request``'s script on ``client`` for the queue of ``keys`` (redis-py);
    the reply is raw, for the contract's parser."""
    if isinstance(request, OwnKeysRequest):
        raise TypeError(f"{type(request).__name__} has keys of its own: use call_own_keys")
    script: Script = getattr(scripts(), request.SCRIPT)
    if not is_cluster(client):
        return await script(client, keys.script_keys, request.full_argv(keys.base))
    # The queue registry is in another slot: kept in a call of its own.
    registers = "registry" in request.WRITES
    if registers and request.SCRIPT != "obliterate":
        await register_queue(client, keys)
    reply = await script(client, keys.script_keys_on(True), request.full_argv(keys.base))
    if registers and request.SCRIPT == "obliterate":
        await unregister_queue(client, keys)
    return reply


async def call_own_keys(client: Redis, prefix: str, request: OwnKeysRequest) -> Any:
    """Run ``request``'s script on ``client`` with the keys it builds for the
    deployment ``prefix``; the reply is raw, for the contract's parser."""
    script: Script = getattr(scripts(), request.SCRIPT)
    keys = request.cluster_keys(prefix) if is_cluster(client) else request.script_keys(prefix)
    return await script(client, keys, request.full_argv(request.argv_prefix(prefix)))


@dataclass(frozen=True, slots=True)
class Refusal:
    """An error reply a script returns on purpose: ``reason`` and, after a
    colon, a ``detail`` ("not-failed:waiting", "active:3", "missing")."""

    reason: str
    detail: str = ""

    @classmethod
    def parse(cls, error: ResponseError) -> Refusal:
        reason, _, detail = str(error).partition(":")
        return cls(reason, detail)


# -- the layout and its packing ------------------------------------------------


def argv_layout(cls: type[Request]) -> list[str | tuple[str, tuple[str, ...]]]:
    """The ARGV names of ``cls`` from ``ARGV[2]`` on: a plain name, or
    ``(group, item names)`` after the group's count for a repeated group."""
    hints = typing.get_type_hints(cls)
    layout: list[str | tuple[str, tuple[str, ...]]] = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        layout.append(f.name)
        item = _group_item(f, hints[f.name])
        if isinstance(item, str):
            layout.append((f.name, (item,)))
        elif item is not None:
            layout.append((f.name, _item_fields(item)))
    return layout


def _is_named_tuple(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields")


def _item_fields(item: type) -> tuple[str, ...]:
    if _is_named_tuple(item):
        return tuple(item._fields)  # type: ignore[attr-defined]
    return tuple(g.name for g in dataclasses.fields(item))


def _group_item(f: dataclasses.Field[Any], hint: Any) -> type | str | None:
    """The item dataclass of a repeated group, the name of its one value for
    a group of scalars, or None for a plain argument."""
    if typing.get_origin(hint) is not tuple:
        return None
    args = typing.get_args(hint)
    if len(args) != 2 or args[1] is not Ellipsis:
        raise TypeError(f"{f.name}: a repeated group is typed tuple[<item>, ...]")
    if dataclasses.is_dataclass(args[0]) or _is_named_tuple(args[0]):
        return args[0]  # type: ignore[no-any-return]
    if _GROUP_ITEM not in f.metadata:
        raise TypeError(f"{f.name}: a group of scalars names its value with group_item()")
    return str(f.metadata[_GROUP_ITEM])


Packer = Callable[[Any, list[Arg]], list[Arg]]
ValuesPacker = Callable[..., list[Arg]]
_PACKERS: dict[type, tuple[Packer, ValuesPacker]] = {}


def _packed(value: Any) -> Arg:
    """One argument of a type the packer does not know ahead (``Any``)."""
    if value is True:
        return "1"
    if value is False or value is None:
        return ""
    if isinstance(value, enum.Enum):
        return value.value  # type: ignore[no-any-return]
    return value  # type: ignore[no-any-return]


def _expression(source: str, hint: Any) -> str:
    """Python source that turns the value at ``source`` into an argument."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        others = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        inner = _expression(source, others[0]) if len(others) == 1 else f"_packed({source})"
        return f'("" if {source} is None else {inner})'
    if hint is bool:
        return f'("1" if {source} else "")'
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return f"{source}.value"
    if hint in (str, int, float, bytes):
        return source
    return f"_packed({source})"


def _pack_body(cls: type[Request], ref: Callable[[str], str]) -> list[str]:
    """The lines of a function that appends ``cls``'s ARGV to ``_out``;
    ``ref(field name)`` is the source that reads a field's value."""
    hints = typing.get_type_hints(cls)
    body: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            body.append(f"    _out += ({', '.join(pending)},)")
            pending.clear()

    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        item = _group_item(f, hints[f.name])
        if item is None:
            pending.append(_expression(ref(f.name), hints[f.name]))
            continue
        pending.append(f"len({ref(f.name)})")
        flush()
        if isinstance(item, str):
            body.append(f"    _out += {ref(f.name)}")
            continue
        item_hints = typing.get_type_hints(item)
        item_names = _item_fields(item)
        if _is_named_tuple(item):  # unpacked: cheaper than an attribute read per value
            sources = [f"_v{i}" for i in range(len(item_names))]
            body.append(f"    for {', '.join(sources)}, in {ref(f.name)}:")
        else:
            sources = [f"_item.{name}" for name in item_names]
            body.append(f"    for _item in {ref(f.name)}:")
        values = [
            _expression(source, item_hints[name])
            for source, name in zip(sources, item_names, strict=True)
        ]
        body.append(f"        _out += ({', '.join(values)},)")
    flush()
    body.append("    return _out")
    return body


def _compile_packers(cls: type[Request]) -> tuple[Packer, ValuesPacker]:
    """Two functions that append ``cls``'s ARGV to a list, written out field by
    field from the types (as dataclasses writes ``__init__``): one reads a
    request's fields, the other takes the field values as arguments."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    source = "\n".join(
        [
            "def pack(self, _out):",
            *_pack_body(cls, lambda name: f"self.{name}"),
            f"def pack_values(_out, {', '.join(names)}):",
            *_pack_body(cls, lambda name: name),
        ]
    )
    namespace: dict[str, Any] = {"_packed": _packed}
    exec(source, namespace)  # the source is built above from field names
    packers: tuple[Packer, ValuesPacker] = (namespace["pack"], namespace["pack_values"])
    _PACKERS[cls] = packers
    return packers
