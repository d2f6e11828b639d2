"""Each Lua script's header against its Python contract and its own source.

The header lists ARGV one per line (``ARGV[n] name`` or ``ARGV[+] name``
after a repeated group, and ``ARGV[+] group * (a, b, c)`` for the group's
items), the KEYS of a script with keys of its own (``KEYS[n] name``;
``KEYS[*] queue`` for a queue's keys, then ``KEYS[+] name``), then
``Returns:``, ``Emits:``, ``Writes:`` and, optionally, ``Flags:``. The contract is the request
dataclass in ``engine/contracts``. They must name the same values in the
same order and declare the same events and written keys; and the script's
source (its body and every include function it can reach) must emit no
event and write no key that its header leaves out.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import pkgutil
import re
import typing
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio

import engine.contracts
from engine.contracts.base import (
    ARGV_PREFIX,
    QUEUE_KEYS,
    OwnKeysRequest,
    Request,
    argv_layout,
)
from engine.events import EVENT_NAMES
from engine.jobhash import JobField
from engine.keys import SCRIPT_KEY_NAMES
from engine.scripts import SCRIPT_NAMES, script_flags, scripts
from tests.engine import lua_scan

_ARGV_LINE = re.compile(r"^\s*ARGV\[(\d+|\+)\]\s+(\w+)(?:\s+\*\s+\(([^)]*)\))?")
_KEYS_LINE = re.compile(r"^\s*KEYS\[(\d+|\*|\+)\]\s+([\w:]+)")
_FIELD_LINE = re.compile(r"^\s*(Returns|Emits|Writes|Flags):\s*(.*)$")


@dataclass
class Header:
    argv: list[str | tuple[str, tuple[str, ...]]]
    keys: list[str]
    returns: str | None
    emits: tuple[str, ...]
    writes: tuple[str, ...]
    flags: tuple[str, ...]


def _names(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    value = re.sub(r"\([^)]*\)", "", value)  # remarks in brackets
    if value.strip().lower() == "nothing":
        return ()
    return tuple(part.strip().rstrip(".") for part in value.split(",") if part.strip())


def read_header(script: str) -> Header:
    source = lua_scan.read_lua(f"{script}.lua")
    match = re.match(r"--\[\[(.*?)\]\]", source, re.S)
    assert match, f"{script}.lua opens without a --[[ header ]]"
    argv: list[str | tuple[str, tuple[str, ...]]] = []
    keys: list[str] = []
    fields: dict[str, str] = {}
    expected = 1
    after_group = False
    current: str | None = None
    for line in match.group(1).splitlines():
        found = _ARGV_LINE.match(line)
        if found:
            current = None
            position, name, items = found.groups()
            if position == "+" and items is not None:
                assert argv and argv[-1] == name, (
                    f"{script}.lua: ARGV[+] {name} * (...) must follow its count, ARGV[n] {name}"
                )
            elif position == "+":
                assert after_group, f"{script}.lua: ARGV[+] {name} before any repeated group"
            else:
                assert not after_group, f"{script}.lua: ARGV[{position}] after a repeated group"
                assert int(position) == expected, (
                    f"{script}.lua: ARGV[{position}] {name} where ARGV[{expected}] was due"
                )
                expected += 1
            if items is not None:
                argv.append((name, tuple(part.strip() for part in items.split(","))))
                after_group = True
            else:
                argv.append(name)
            continue
        key = _KEYS_LINE.match(line)
        if key:
            current = None
            position, name = key.groups()
            if position.isdigit():
                assert int(position) == len(keys) + 1, (
                    f"{script}.lua: KEYS[{position}] out of order"
                )
            keys.append(name)
            continue
        field = _FIELD_LINE.match(line)
        if field:
            current = field.group(1)
            fields[current] = field.group(2).strip()
        elif current and line.startswith("  ") and line.strip():
            fields[current] += " " + line.strip()  # a continued Returns:/Emits:/Writes:
    assert argv and argv[0] == ARGV_PREFIX, f"{script}.lua: ARGV[1] must be {ARGV_PREFIX}"
    return Header(
        argv[1:],
        keys,
        fields.get("Returns"),
        _names(fields.get("Emits")),
        _names(fields.get("Writes")),
        _names(fields.get("Flags")),
    )


def contracts() -> dict[str, type[Request]]:
    for module in pkgutil.iter_modules(engine.contracts.__path__):
        importlib.import_module(f"engine.contracts.{module.name}")  # registers the subclasses
    found: dict[str, type[Request]] = {}
    stack = list(Request.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        # dataclass(slots=True) replaces a class: the one its module holds counts
        current = getattr(importlib.import_module(cls.__module__), cls.__name__, None) is cls
        if "SCRIPT" in cls.__dict__ and current:
            assert cls.SCRIPT not in found, f"two contracts for {cls.SCRIPT}"
            found[cls.SCRIPT] = cls
    return found


PENDING: set[str] = set()
"""Scripts whose callers still pass positional lists (the worker's, being
converted): only the checks of their source apply to them yet."""

JF_PENDING: set[str] = set()
"""Files that still name job-hash fields by literal (the worker's, being converted)."""

LUA_FILES = [f"{name}.lua" for name in SCRIPT_NAMES] + [
    f"includes/{name}.lua" for name in ("common", "add_job", "deps", "retention", "fetch", "finish")
]


# -- the header against the contract -----------------------------------------------


@pytest.mark.parametrize("script", sorted(set(SCRIPT_NAMES) - PENDING))
def test_header_matches_contract(script: str) -> None:
    contract = contracts().get(script)
    assert contract is not None, f"no Request subclass with SCRIPT = {script!r}"
    header = read_header(script)
    assert header.argv == argv_layout(contract)
    assert header.returns, f"{script}.lua: header lacks Returns:"
    assert sorted(header.emits) == sorted(contract.EMITS)
    assert sorted(header.writes) == sorted(contract.WRITES)
    assert sorted(header.flags) == sorted(contract.FLAGS)
    assert header.flags == script_flags(script), "the loader reads other flags"
    if "no-writes" in header.flags:
        assert not header.writes, f"{script}.lua: no-writes, yet its header lists writes"
    assert header.keys == list(contract.KEYS)
    if issubclass(contract, OwnKeysRequest):
        assert contract.KEYS, f"{contract.__name__} has keys of its own: name them in KEYS"
        expected = sum(len(SCRIPT_KEY_NAMES) if k == QUEUE_KEYS else 1 for k in contract.KEYS)
        assert len(_sample(contract).script_keys("messai")) == expected
    else:
        assert not contract.KEYS, f"{script}: a queue's script takes the queue's KEYS"


def test_every_script_has_a_contract_or_is_pending() -> None:
    assert set(contracts()) | PENDING == set(SCRIPT_NAMES)
    assert not set(contracts()) & PENDING, "a converted script is still listed as pending"


def _sample(cls: type[Any]) -> Any:
    """An instance of a contract (or group item) with a value for every field."""
    hints = typing.get_type_hints(cls)
    names = cls._fields if hasattr(cls, "_fields") else [f.name for f in dataclasses.fields(cls)]
    values: list[Any] = []
    for index, name in enumerate(names):
        hint = hints[name]
        if typing.get_origin(hint) is tuple:
            item = typing.get_args(hint)[0]
            values.append((_sample(item), _sample(item)) if item not in (str, int) else (7, 8))
        elif hint is bool:
            values.append(index % 2 == 0)
        elif isinstance(hint, type) and issubclass(hint, enum.Enum):
            values.append(next(iter(hint)))
        elif hint is int or hint == int | None:
            values.append(index)
        else:
            values.append(f"v{index}")
    return cls(*values)


@pytest.mark.parametrize("script", sorted(set(SCRIPT_NAMES) - PENDING))
def test_argv_has_one_value_per_header_line(script: str) -> None:
    contract = contracts()[script]
    request = _sample(contract)
    argv = request.full_argv("p")
    assert request.argv() == argv[1:]
    expected = 1
    for entry in argv_layout(contract):
        if isinstance(entry, tuple):
            expected += len(entry[1]) * len(getattr(request, entry[0]))
        else:
            expected += 1
    assert len(argv) == expected
    assert argv[0] == "p"
    assert (
        contract.values_packer()(
            ["p"], *(getattr(request, f.name) for f in dataclasses.fields(contract))
        )
        == argv
    )
    assert all(isinstance(value, str | int | float | bytes) for value in argv)


def test_add_packs_the_same_without_the_request() -> None:
    from engine.contracts.add import AddJob, AddRequest, pack_add
    from engine.options import parse_options

    jobs = (
        AddJob.of("a", {"x": 1}, parse_options(priority=3, lifo=True)),
        AddJob.of("b", None, parse_options()),
    )
    assert pack_add(["p"], "q", jobs) == AddRequest("q", jobs).full_argv("p")


def test_common_lists_the_queue_keys_in_their_order() -> None:
    header = re.match(r"--\[\[(.*?)\]\]", lua_scan.read_lua("includes/common.lua"), re.S)
    assert header
    names = [m.group(2) for m in map(_KEYS_LINE.match, header.group(1).splitlines()) if m]
    assert names == list(SCRIPT_KEY_NAMES)


# -- the header against the source -------------------------------------------------


def _every_script() -> list[Any]:
    """Every script; those of PENDING are expected to fail until converted (their
    headers are in the old format), and must pass once they leave PENDING."""
    return [
        pytest.param(
            name,
            marks=pytest.mark.xfail(reason="header not converted yet", strict=False)
            if name in PENDING
            else (),
        )
        for name in sorted(SCRIPT_NAMES)
    ]


@pytest.mark.parametrize("script", _every_script())
def test_emits_lists_every_event_the_source_can_emit(script: str) -> None:
    header = read_header(script)
    source = lua_scan.script_source(script)
    assert not lua_scan.dynamic_emits(source.reachable), "an event name the test cannot read"
    emitted = lua_scan.events(source.reachable)
    assert set(header.emits) <= set(EVENT_NAMES), "an event engine/events.py does not know"
    assert emitted - set(header.emits) == set(), f"{script}.lua emits events its header omits"
    assert set(header.emits) - emitted == set(), f"{script}.lua lists events it never emits"


@pytest.mark.parametrize("script", _every_script())
def test_writes_lists_every_key_the_source_can_write(script: str) -> None:
    header = read_header(script)
    source = lua_scan.script_source(script)
    found = lua_scan.writes(source.reachable, header.keys)
    assert not found.unknown, "written keys the test cannot place (teach lua_scan.key_roles)"
    declared = set(header.writes)
    assert found.roles - declared == set(), f"{script}.lua writes keys its header omits"
    for roles, where in found.either:
        assert roles & declared, f"{where}: writes one of {sorted(roles)}; none is declared"
    possible = found.roles.union(*(roles for roles, _where in found.either))
    assert declared - possible == set(), f"{script}.lua declares writes it never makes"


# -- job-hash fields -----------------------------------------------------------------


def _header_keys(path: str) -> list[str]:
    header = re.match(r"--\[\[(.*?)\]\]", lua_scan.read_lua(path), re.S)
    assert header
    return [m.group(2) for m in map(_KEYS_LINE.match, header.group(1).splitlines()) if m]


def _jf_table() -> dict[str, str]:
    common = lua_scan.read_lua("includes/common.lua")
    table = re.search(r"local JF = \{(.*?)\n\}", common, re.S)
    assert table, "common.lua lacks the JF table"
    return dict(re.findall(r"(\w+) = \"([^\"]*)\"", table.group(1)))


def test_lua_job_field_legend_mirrors_python() -> None:
    assert _jf_table() == {field.name: field.value for field in JobField}


@pytest.mark.parametrize("path", LUA_FILES)
def test_job_fields_are_in_the_legend(path: str) -> None:
    parsed = lua_scan.parse_file(path)
    header_keys = _header_keys(path)
    legend = {field.value for field in JobField}
    for name in re.findall(r"\bJF\.(\w+)", parsed.code):
        assert name in JobField.__members__, f"{path}: JF.{name} is not a JobField"
    for use in lua_scan.job_fields(parsed, header_keys):
        if use.token.startswith('"'):
            assert use.token.strip('"') in legend, f"{path}: job field {use.token} not in JobField"
            assert path in JF_PENDING, f"{path}: name job field {use.token} as JF.<NAME>"


def test_the_field_reader_sees_fields() -> None:
    """The check above reads what it should (a reader that finds nothing
    would pass anything)."""
    uses = lua_scan.job_fields(lua_scan.parse_file("includes/add_job.lua"), [])
    assert {use.token for use in uses} >= {
        "JF.NAME",
        "JF.CREATED",
        "JF.PRIORITY",
        "JF.DEPENDENCIES",
    }
    literal = lua_scan.parse_file(
        "x.lua", 'local jk = job_key(id)\nredis.call("HSET", jk, "zz", 1)\n'
    )
    assert [use.token for use in lua_scan.job_fields(literal, [])] == ['"zz"']


# -- constants copied into Lua ---------------------------------------------------------

_COPY = re.compile(r"^local (\w+) = (\"[^\"]*\"|[\d.]+) -- engine/(\w+)\.py (\w+)", re.MULTILINE)

EXPECTED_COPIES = {
    "DEFAULT_PRIORITY",
    "WAITLIST_SUFFIX",
    "PRIORITY_BAND",
    "FIFO_BASE",
    "EVENTS_MAXLEN",
    "METRICS_TTL_S",
    "MAX_JOB_ID_BYTES",
}


def _copies() -> list[tuple[str, str, str, str, str]]:
    found = []
    for path in LUA_FILES:
        for name, value, module, source in _COPY.findall(lua_scan.read_lua(path)):
            found.append((path, name, value, module, source))
    return found


@pytest.mark.parametrize("copy", _copies(), ids=lambda copy: f"{copy[0]}:{copy[1]}")
def test_lua_copies_equal_their_python_source(copy: tuple[str, str, str, str, str]) -> None:
    path, name, value, module, source = copy
    python = getattr(importlib.import_module(f"engine.{module}"), source)
    lua = value.strip('"') if value.startswith('"') else float(value)
    assert lua == python, f"{path}: {name} = {value}, engine/{module}.py {source} = {python!r}"


def test_every_known_copy_names_its_source() -> None:
    assert {copy[1] for copy in _copies()} >= EXPECTED_COPIES


def test_job_key_suffixes_mirror_keys_py() -> None:
    from engine.keys import JOB_KEY_SUFFIXES

    source = lua_scan.read_lua("includes/add_job.lua")
    table = re.search(r"local JOB_KEY_SUFFIXES = \{(.*?)\}", source)
    assert table and set(re.findall(r"(\w+) = true", table.group(1))) == set(JOB_KEY_SUFFIXES)
    # and every per-job key that delete_job removes is among them
    deleted = re.findall(r'jk \.\. ":(\w+)"', lua_scan.read_lua("includes/common.lua"))
    assert set(deleted) == set(JOB_KEY_SUFFIXES)


def test_waiting_scores_stay_exact() -> None:
    from engine.options import FIFO_BASE, MAX_PRIORITY, PRIORITY_BAND

    # priority * band + FIFO_BASE +/- seq must be an exact double
    assert MAX_PRIORITY * PRIORITY_BAND + 2 * FIFO_BASE <= 2**53


def _lua_table(include: str, name: str) -> str:
    source = lua_scan.read_lua(f"includes/{include}.lua")
    table = re.search(rf"local {name} = \{{(.*?)\}}", source, re.S)
    assert table, f"{include}.lua lacks the {name} table"
    return table.group(1)


def test_fetched_job_fields_mirror_the_fetch_include() -> None:
    from engine.contracts.worker import FETCHED_FIELDS

    lua = re.findall(r"JF\.(\w+)", _lua_table("fetch", "JOB_FIELDS"))
    assert lua == [field.name for field in FETCHED_FIELDS]
    source = lua_scan.read_lua("includes/fetch.lua")
    at = re.search(r"local JOB_HAS_RESULTS = (\d+)", source)
    assert at and lua[int(at.group(1)) - 1] == "HAS_RESULTS"


def test_outcome_kinds_mirror_the_finish_include() -> None:
    from engine.contracts.worker import OutcomeKind

    lua = dict(re.findall(r"(\w+) = \"([^\"]*)\"", _lua_table("finish", "OUTCOME")))
    assert lua == {kind.name: kind.value for kind in OutcomeKind}


# -- loading -----------------------------------------------------------------------------


@pytest.mark.parametrize("script", SCRIPT_NAMES)
async def test_every_script_loads_as_a_function_library(
    redis_client: redis.asyncio.Redis, script: str
) -> None:
    """A library that fails to load (its top level runs at load time, without
    `unpack` and the other globals) still works over EVAL, at three round trips
    a call: only loading it shows the failure."""
    await redis_client.function_load(getattr(scripts(), script).library, replace=True)
