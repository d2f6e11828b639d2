"""Reading the Lua scripts as the contract test needs: their functions, what
a script can reach (its body and the include functions it calls, however
deep), the events it can emit, the keys it can write and the job-hash
fields it names. A pragmatic reader, not a Lua parser: it knows the shapes
the engine's scripts use, and says so when it meets one it cannot place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources

from engine.scripts import _parts

WRITE_COMMANDS = frozenset(
    {
        "APPEND",
        "DEL",
        "EXPIRE",
        "GETDEL",
        "HDEL",
        "HINCRBY",
        "HINCRBYFLOAT",
        "HMSET",
        "HSET",
        "HSETNX",
        "INCR",
        "INCRBY",
        "LMOVE",
        "LPOP",
        "LPUSH",
        "LREM",
        "LSET",
        "LTRIM",
        "PERSIST",
        "PEXPIRE",
        "PEXPIREAT",
        "PSETEX",
        "RENAME",
        "RPOP",
        "RPUSH",
        "SADD",
        "SET",
        "SETEX",
        "SPOP",
        "SREM",
        "UNLINK",
        "XADD",
        "XDEL",
        "XTRIM",
        "ZADD",
        "ZINCRBY",
        "ZPOPMAX",
        "ZPOPMIN",
        "ZREM",
        "ZREMRANGEBYRANK",
        "ZREMRANGEBYSCORE",
    }
)
"""Commands that write their first key (DEL and UNLINK: every key)."""

HASH_FIELD_COMMANDS = frozenset(
    {"HSET", "HMSET", "HSETNX", "HGET", "HMGET", "HDEL", "HINCRBY", "HINCRBYFLOAT", "HEXISTS"}
)

BOUND_KEYS = {
    "waiting_key": "waiting",
    "waitlist_key": "waiting:list",
    "active_key": "active",
    "delayed_key": "delayed",
    "completed_key": "completed",
    "failed_key": "failed",
    "pending_key": "pending",
    "meta_key": "meta",
    "events_key": "events",
    "marker_key": "marker",
    "seq_key": "seq",
    "limiter_key": "limiter",
    "registry_key": "registry",
    "sweep_key": "sweep",
}
"""The key variables that ``bind`` in common.lua sets, by role."""

STATE_ROLES = frozenset(
    {"waiting", "waiting:list", "active", "delayed", "completed", "failed", "pending"}
)

PARAMETER_KEYS: dict[str, frozenset[str]] = {
    # push_waiting(zset, list, seq, ...): a queue's waiting keys and sequence
    "zset": frozenset({"waiting"}),
    "list": frozenset({"waiting:list"}),
    "seq": frozenset({"seq"}),
    # a state set chosen at run time (delete_jobs_in, trim_finished, clean...)
    "set_key": STATE_ROLES,
    "STATE_KEYS[state]": STATE_ROLES,
}
"""Key expressions that are a function's parameter or chosen at run time: the
roles they can be. A script that writes one must declare at least one of them."""

_SUFFIX_ROLES: tuple[tuple[str, str], ...] = (
    (r'":logs"', "logs"),
    (r"\blogs_key\(", "logs"),
    (r'":deps"', "deps"),
    (r'":results"', "results"),
    (r"\bjob_key\(", "job"),
    (r"\bdedup_key\(", "dedup"),
    (r'"job:"', "job"),
    (r'"outbox', "outbox"),
    (r'"metrics:"', "metrics"),
    (r"\bkeep_key\(", "keep"),
    (r"\bWAITLIST_SUFFIX\b", "waiting:list"),
    (r'\.\.\s*"(waiting|delayed|pending|failed|completed|active|events|marker|seq)"\s*$', ""),
)


@dataclass
class Chunk:
    """A top-level function of a file, or a script's body."""

    name: str
    file: str
    code: str
    """Comments removed, strings kept."""


@dataclass
class LuaFile:
    path: str
    code: str
    functions: dict[str, Chunk] = field(default_factory=dict)


def read_lua(path: str) -> str:
    return resources.files("engine").joinpath("lua", path).read_text(encoding="utf-8")


def strip_comments(source: str) -> tuple[str, str]:
    """The source without comments, and the same with string contents masked
    (for finding keywords and brackets), both of the same length."""
    code: list[str] = []
    masked: list[str] = []
    i, n = 0, len(source)
    while i < n:
        if source.startswith("--[[", i):
            end = source.find("]]", i)
            end = n if end < 0 else end + 2
            blank = re.sub(r"[^\n]", " ", source[i:end])
            code.append(blank)
            masked.append(blank)
            i = end
        elif source.startswith("--", i):
            end = source.find("\n", i)
            end = n if end < 0 else end
            code.append(" " * (end - i))
            masked.append(" " * (end - i))
            i = end
        elif source[i] in "\"'":
            quote, j = source[i], i + 1
            while j < n and source[j] != quote:
                j += 2 if source[j] == "\\" else 1
            j += 1
            code.append(source[i:j])
            masked.append(quote + "x" * (j - i - 2) + quote)
            i = j
        else:
            code.append(source[i])
            masked.append(source[i])
            i += 1
    return "".join(code), "".join(masked)


_BLOCK = re.compile(r"\b(function|if|do|repeat|end|until)\b")
_FUNCTION_HEAD = re.compile(r"(?:local\s+)?function\s+([\w.]+)\s*\($")


def parse_file(path: str, text: str | None = None) -> LuaFile:
    source = read_lua(path) if text is None else text
    code, masked = strip_comments(source)
    parsed = LuaFile(path, code)
    depth = 0
    start: int | None = None
    name = ""
    for match in _BLOCK.finditer(masked):
        word = match.group(1)
        if word in ("end", "until"):
            depth -= 1
            if depth == 0 and start is not None:
                parsed.functions[name] = Chunk(name, path, code[start : match.end()])
                start = None
            continue
        if word == "function" and depth == 0:
            line_start = masked.rfind("\n", 0, match.start()) + 1
            head = masked[line_start : masked.find("(", match.end()) + 1]
            found = _FUNCTION_HEAD.search(head.strip())
            if found:
                start, name = line_start, found.group(1)
        depth += 1
    assert depth == 0, f"{path}: unbalanced blocks"
    return parsed


@dataclass
class ScriptSource:
    """A script with the include functions it can reach."""

    name: str
    body: Chunk
    reachable: list[Chunk]
    """The body first, then every include function it calls, however deep."""


def script_source(script: str) -> ScriptSource:
    names = _include_names(script)
    includes_text, _body = _parts(script)
    assert includes_text == "\n".join(read_lua(f"includes/{name}.lua") for name in names), (
        f"{script}: the loader's includes differ from the Includes: line"
    )
    body_file = parse_file(f"{script}.lua")
    functions: dict[str, Chunk] = {}
    for include in names:
        functions.update(parse_file(f"includes/{include}.lua").functions)
    body = Chunk("<body>", f"{script}.lua", body_file.code)
    reachable = [body]
    seen: set[str] = set()
    queue = [body]
    while queue:
        chunk = queue.pop()
        for called in re.findall(r"\b([A-Za-z_]\w*)\s*\(", chunk.code):
            if called in functions and called not in seen:
                seen.add(called)
                reachable.append(functions[called])
                queue.append(functions[called])
    return ScriptSource(script, body, reachable)


def _include_names(script: str) -> list[str]:
    """The includes the loader prepends (engine/scripts.py reads the same line)."""
    match = re.search(r"Includes:\s*([a-z_, ]+)", read_lua(f"{script}.lua"))
    names = [part.strip() for part in match.group(1).split(",")] if match else []
    if "common" not in names:
        names.insert(0, "common")
    return names


# -- calls ---------------------------------------------------------------------


def split_arguments(code: str, open_paren: int) -> tuple[list[str], int]:
    """The top-level comma-separated arguments of the call whose "(" is at
    ``open_paren``, and the index after its ")"."""
    _code, masked = strip_comments(code)
    depth, start, args = 0, open_paren + 1, []
    i = open_paren
    while i < len(masked):
        ch = masked[i]
        if ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
            if depth == 0:
                args.append(code[start:i].strip())
                return [a for a in args if a], i + 1
        elif ch == "," and depth == 1:
            args.append(code[start:i].strip())
            start = i + 1
        i += 1
    raise AssertionError(f"unclosed call at {code[open_paren : open_paren + 60]!r}")


@dataclass
class RedisCall:
    commands: tuple[str, ...]
    args: list[str]
    """After the command."""
    chunk: Chunk


def redis_calls(chunk: Chunk) -> list[RedisCall]:
    calls = []
    for match in re.finditer(r"redis\.p?call\(", chunk.code):
        args, _end = split_arguments(chunk.code, match.end() - 1)
        commands = tuple(re.findall(r'"([A-Z]+)"', args[0]))
        assert commands, f"{chunk.file} {chunk.name}: command not named in {args[0]!r}"
        calls.append(RedisCall(commands, args[1:], chunk))
    return calls


def local_value(chunk: Chunk, name: str) -> str | None:
    """The expression assigned to local ``name`` in ``chunk`` (the last one)."""
    value = None
    for match in re.finditer(r"\blocal\s+([\w\s,]+?)\s*=\s*([^\n]+)", chunk.code):
        names = [part.strip() for part in match.group(1).split(",")]
        if name not in names:
            continue
        line = match.group(2)
        values, _ = split_arguments("(" + line + ")", 0) if "," in line else ([line.strip()], 0)
        index = names.index(name)
        if index < len(values):
            value = values[index]
    return value


def key_roles(
    expression: str, chunk: Chunk, header_keys: list[str], depth: int = 0
) -> frozenset[str] | None:
    """The roles ``expression`` can name, or None when it is not known."""
    expression = expression.strip()
    if expression in BOUND_KEYS:
        return frozenset({BOUND_KEYS[expression]})
    keys_index = re.fullmatch(r"KEYS\[(\d+|#KEYS(?:\s*-\s*(\d+))?)\]", expression)
    if keys_index and header_keys:
        if keys_index.group(1).isdigit():
            position = int(keys_index.group(1)) - 1
        else:
            position = len(header_keys) - 1 - int(keys_index.group(2) or 0)
        return frozenset({header_keys[position]})
    for pattern, role in _SUFFIX_ROLES:
        found = re.search(pattern, expression)
        if found:
            return frozenset({role or found.group(1)})
    if re.fullmatch(r"\w+", expression) and depth < 5:
        value = local_value(chunk, expression)
        if value is not None and value != expression:
            resolved = key_roles(value, chunk, header_keys, depth + 1)
            if resolved is not None:
                return resolved
    return PARAMETER_KEYS.get(expression)


# -- job-hash fields -------------------------------------------------------------


@dataclass(frozen=True)
class FieldUse:
    file: str
    token: str
    """``JF.NAME`` or a quoted literal."""


def _table_fields(chunk: Chunk, all_code: str, name: str, pairs: bool) -> list[str]:
    """The field tokens in table ``name`` (its constructor and appends); with
    ``pairs``, only the odd places (field, value, field, value...)."""
    constructor = re.search(rf"\blocal\s+{name}\s*=\s*\{{([^}}]*)\}}", chunk.code) or re.search(
        rf"\blocal\s+{name}\s*=\s*\{{([^}}]*)\}}", all_code
    )
    items: list[str] = []
    if constructor:
        items.extend(part.strip() for part in constructor.group(1).split(",") if part.strip())
    items.extend(
        value.strip()
        for value in re.findall(rf"\b{name}\[#{name}\s*\+\s*1\]\s*=\s*([^\n]+)", chunk.code)
    )
    if pairs:
        items = items[0::2]
    return [item for item in items if _is_field_token(item)]


def _is_field_token(text: str) -> bool:
    return bool(re.fullmatch(r'JF\.\w+|"[^"]*"', text))


def job_fields(parsed: LuaFile, header_keys: list[str]) -> list[FieldUse]:
    """Every job-hash field named by a hash command on a job key in ``parsed``."""
    uses: list[FieldUse] = []
    chunks = [*parsed.functions.values(), Chunk("<body>", parsed.path, parsed.code)]
    seen: set[tuple[int, str]] = set()
    for chunk in chunks:
        for call in redis_calls(chunk):
            command = call.commands[0]
            if command not in HASH_FIELD_COMMANDS or not call.args:
                continue
            roles = key_roles(call.args[0], chunk, header_keys)
            if roles != frozenset({"job"}):
                continue
            rest = call.args[1:]
            if command in ("HSET", "HMSET"):
                tokens = rest[0::2]
            elif command in ("HMGET", "HDEL"):
                tokens = rest
            else:
                tokens = rest[:1]
            for token in tokens:
                unpacked = re.fullmatch(r"unpack\((\w+)\)", token)
                if unpacked:
                    found = _table_fields(chunk, parsed.code, unpacked.group(1), command == "HSET")
                else:
                    found = [token] if _is_field_token(token) else []
                for item in found:
                    key = (id(chunk) if chunk.name != "<body>" else 0, f"{call.args}:{item}")
                    if key not in seen:
                        seen.add(key)
                        uses.append(FieldUse(parsed.path, item))
    return uses


# -- events ------------------------------------------------------------------------

_EVENT_PATTERNS = (
    re.compile(r'\bemit\(\s*"([^"]+)"'),
    re.compile(r'\bemit_in\([^,]+,\s*"([^"]+)"'),
    re.compile(r'"ev",\s*"([^"]+)"'),
)


def events(chunks: list[Chunk]) -> set[str]:
    found: set[str] = set()
    for chunk in chunks:
        for pattern in _EVENT_PATTERNS:
            found.update(pattern.findall(chunk.code))
    return found


def dynamic_emits(chunks: list[Chunk]) -> list[str]:
    """Calls of emit / emit_in whose event is not a literal (the test cannot
    read them)."""
    out = []
    for chunk in chunks:
        for match in re.finditer(r"(?<!function )\b(emit|emit_in)\(", chunk.code):
            args, _end = split_arguments(chunk.code, match.end() - 1)
            event = args[0] if match.group(1) == "emit" else args[1]
            if not re.fullmatch(r'"[^"]+"', event):
                out.append(f"{chunk.file} {chunk.name}: {match.group(1)}({', '.join(args)})")
    return out


# -- writes --------------------------------------------------------------------------


@dataclass
class Writes:
    roles: set[str] = field(default_factory=set)
    """Roles written for certain."""
    either: list[tuple[frozenset[str], str]] = field(default_factory=list)
    """(roles one of which is written, where) for keys chosen at run time."""
    unknown: list[str] = field(default_factory=list)
    """Written key expressions the reader cannot place."""


def writes(chunks: list[Chunk], header_keys: list[str]) -> Writes:
    found = Writes()
    for chunk in chunks:
        for call in redis_calls(chunk):
            if not any(command in WRITE_COMMANDS for command in call.commands):
                continue
            keys = call.args if call.commands[0] in ("DEL", "UNLINK") else call.args[:1]
            for key in keys:
                roles = key_roles(key, chunk, header_keys)
                where = f"{chunk.file} {chunk.name}: {call.commands[0]} {key}"
                if roles is None:
                    found.unknown.append(where)
                elif len(roles) == 1:
                    found.roles |= roles
                else:
                    found.either.append((roles, where))
    return found
