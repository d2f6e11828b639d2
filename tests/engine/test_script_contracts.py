"""Each Lua script's header against its Python contract.

The header lists ARGV one per line (``ARGV[n] name`` or ``ARGV[+] name``
after a repeated group, and ``ARGV[+] group * (a, b, c)`` for the group's
items), then ``Returns:``, ``Emits:`` and ``Writes:``. The contract is the
request dataclass in ``engine/contracts``. They must name the same values
in the same order, and declare the same events and written keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import pytest

from engine.contracts.base import ARGV_PREFIX, Request, argv_layout
from engine.scripts import SCRIPT_NAMES

_ARGV_LINE = re.compile(r"^\s*ARGV\[(\d+|\+)\]\s+(\w+)(?:\s+\*\s+\(([^)]*)\))?")
_FIELD_LINE = re.compile(r"^\s*(Returns|Emits|Writes):\s*(.*)$")


@dataclass
class Header:
    argv: list[str | tuple[str, tuple[str, ...]]]
    returns: str | None
    emits: tuple[str, ...]
    writes: tuple[str, ...]


def read_header(script: str) -> Header:
    source = resources.files("engine").joinpath("lua", f"{script}.lua").read_text()
    match = re.match(r"--\[\[(.*?)\]\]", source, re.S)
    assert match, f"{script}.lua opens without a --[[ header ]]"
    argv: list[str | tuple[str, tuple[str, ...]]] = []
    fields: dict[str, str] = {}
    expected = 1
    after_group = False
    for line in match.group(1).splitlines():
        found = _ARGV_LINE.match(line)
        if found:
            position, name, items = found.groups()
            if position == "+":
                # a group's items follow its count; anything else follows a group
                assert after_group or items is not None, (
                    f"{script}.lua: ARGV[+] {name} before any repeated group"
                )
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
        field = _FIELD_LINE.match(line)
        if field:
            fields[field.group(1)] = field.group(2).strip()
    assert argv and argv[0] == ARGV_PREFIX, f"{script}.lua: ARGV[1] must be {ARGV_PREFIX}"

    def names(value: str | None) -> tuple[str, ...]:
        if not value or value.lower() == "nothing":
            return ()
        return tuple(part.strip().rstrip(".") for part in value.split(","))

    return Header(
        argv[1:], fields.get("Returns"), names(fields.get("Emits")), names(fields.get("Writes"))
    )


def contracts() -> dict[str, type[Request]]:
    # imported to register the subclasses
    import engine.contracts.admin
    import engine.contracts.worker  # noqa: F401

    found: dict[str, type[Request]] = {}
    stack = list(Request.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if "SCRIPT" in cls.__dict__:
            found[cls.SCRIPT] = cls
    return found


PENDING: set[str] = set(SCRIPT_NAMES) - {
    "pause",
    "fetch",
    "finish",
    "heartbeat",
    "progress",
    "sweep",
    "worker_beat",
}
"""Scripts whose callers still pass positional lists (being converted)."""


@pytest.mark.parametrize("script", sorted(set(SCRIPT_NAMES) - PENDING))
def test_header_matches_contract(script: str) -> None:
    contract = contracts().get(script)
    assert contract is not None, f"no Request subclass with SCRIPT = {script!r}"
    header = read_header(script)
    assert header.argv == argv_layout(contract)
    assert header.returns, f"{script}.lua: header lacks Returns:"
    assert sorted(header.emits) == sorted(contract.EMITS)
    assert sorted(header.writes) == sorted(contract.WRITES)


def test_every_script_has_a_contract_or_is_pending() -> None:
    assert set(contracts()) | PENDING == set(SCRIPT_NAMES)


def test_lua_job_field_legend_mirrors_python() -> None:
    from engine.jobhash import JobField

    common = resources.files("engine").joinpath("lua", "includes", "common.lua").read_text()
    table = re.search(r"local JF = \{(.*?)\n\}", common, re.S)
    assert table, "common.lua lacks the JF table"
    lua = dict(re.findall(r"(\w+) = \"([^\"]*)\"", table.group(1)))
    assert lua == {field.name: field.value for field in JobField}


def _lua_table(include: str, name: str) -> str:
    source = resources.files("engine").joinpath("lua", "includes", f"{include}.lua").read_text()
    table = re.search(rf"local {name} = \{{(.*?)\}}", source, re.S)
    assert table, f"{include}.lua lacks the {name} table"
    return table.group(1)


def test_fetched_job_fields_mirror_the_fetch_include() -> None:
    from engine.contracts.worker import FETCHED_FIELDS

    lua = re.findall(r"JF\.(\w+)", _lua_table("fetch", "JOB_FIELDS"))
    assert lua == [field.name for field in FETCHED_FIELDS]
    source = resources.files("engine").joinpath("lua", "includes", "fetch.lua").read_text()
    at = re.search(r"local JOB_HAS_RESULTS = (\d+)", source)
    assert at and lua[int(at.group(1)) - 1] == "HAS_RESULTS"


def test_outcome_kinds_mirror_the_finish_include() -> None:
    from engine.contracts.worker import OutcomeKind

    lua = dict(re.findall(r"(\w+) = \"([^\"]*)\"", _lua_table("finish", "OUTCOME")))
    assert lua == {kind.name: kind.value for kind in OutcomeKind}


JF_NAMED = ("finish", "heartbeat", "progress", "sweep", "includes/fetch", "includes/finish")
"""Sources that name every job-hash field through the JF table."""
_JOB_HASH_CALL = re.compile(r'redis\.call\("H\w+", (?:jk|job_key\([^)]*\))(.*)')


@pytest.mark.parametrize("source", JF_NAMED)
def test_job_fields_are_named_through_jf(source: str) -> None:
    from engine.jobhash import JobField

    text = resources.files("engine").joinpath("lua", f"{source}.lua").read_text()
    calls = _JOB_HASH_CALL.findall(text)
    assert calls, f"{source}.lua: no job-hash calls found (has the pattern gone stale?)"
    fields = {field.value for field in JobField}
    literals = [lit for rest in calls for lit in re.findall(r'"([^"]*)"', rest) if lit in fields]
    assert not literals, f"{source}.lua names job fields {literals} as literals, not JF.*"
