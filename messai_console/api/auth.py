"""Bearer tokens with scopes: who may read, enqueue, or operate.

Tokens come from ``MESSAI_API_TOKENS`` and/or a file (``MESSAI_API_TOKENS_FILE``
or ``--tokens-file``), one entry each: ``SCOPES:TOKEN`` where SCOPES is
``read``, ``enqueue``, ``operate`` joined by ``+`` (``read+enqueue:s3cret``).
In the variable, entries are separated by commas or whitespace; in the file,
one per line, ``#`` starting a comment. Tokens are compared in constant time
(digests of equal length, every configured token tried) and never logged or
echoed back.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Scope = Literal["read", "enqueue", "operate"]
SCOPES: tuple[Scope, ...] = ("read", "enqueue", "operate")

TOKEN_QUERY_PARAMETER = "access_token"
"""For clients that cannot set a header (a browser's WebSocket and EventSource)."""


class TokenConfigError(ValueError):
    """A token entry that cannot be read; the message never contains the token."""


@dataclass(frozen=True)
class Principal:
    """Who made a request: the scopes their token grants."""

    scopes: frozenset[str]
    authenticated: bool

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


OPEN_ACCESS = Principal(frozenset(SCOPES), authenticated=False)
"""Every scope, for a server without tokens (it listens on loopback only)."""


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class TokenTable:
    """The configured tokens, kept as SHA-256 digests with their scopes."""

    def __init__(self, entries: Iterable[tuple[frozenset[str], str]] = ()) -> None:
        self._entries = [(_digest(token), scopes) for scopes, token in entries]

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def enabled(self) -> bool:
        return bool(self._entries)

    def lookup(self, presented: str) -> Principal | None:
        """The principal of ``presented``, or None; the same work whichever token matches."""
        digest = _digest(presented)
        found: frozenset[str] | None = None
        for known, scopes in self._entries:
            if hmac.compare_digest(known, digest):
                found = scopes
        return None if found is None else Principal(found, authenticated=True)

    @classmethod
    def parse(cls, text: str, source: str, *, lines: bool = False) -> TokenTable:
        """Entries from ``text`` (a variable's value, or a file's when ``lines``)."""
        entries = []
        raw = (
            [line.split("#", 1)[0].strip() for line in text.splitlines()]
            if lines
            else re.split(r"[,\s]+", text)
        )
        for number, entry in enumerate(raw, start=1):
            if not entry:
                continue
            where = f"{source}, line {number}" if lines else f"{source}, entry {number}"
            entries.append(parse_entry(entry, where))
        return cls(entries)

    def merged(self, other: TokenTable) -> TokenTable:
        table = TokenTable()
        table._entries = [*self._entries, *other._entries]
        return table


def parse_entry(entry: str, where: str) -> tuple[frozenset[str], str]:
    scopes_text, separator, token = entry.partition(":")
    if not separator or not token:
        raise TokenConfigError(f"{where}: expected SCOPES:TOKEN, e.g. read+enqueue:<token>")
    scopes = frozenset(scope.strip() for scope in scopes_text.split("+") if scope.strip())
    unknown = sorted(scopes - set(SCOPES))
    if not scopes or unknown:
        raise TokenConfigError(
            f"{where}: unknown scope {', '.join(unknown) or '(none)'}; use {', '.join(SCOPES)}"
        )
    if len(token) < 16:
        raise TokenConfigError(f"{where}: a token must be at least 16 characters")
    return scopes, token


def load_tokens(value: str | None, file: Path | None) -> TokenTable:
    """Tokens from the variable's ``value`` and the ``file`` (either may be absent)."""
    table = TokenTable.parse(value or "", "MESSAI_API_TOKENS")
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise TokenConfigError(f"cannot read the tokens file {file}: {exc.strerror}") from None
        table = table.merged(TokenTable.parse(text, str(file), lines=True))
    return table


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header."""
    if not authorization:
        return None
    kind, _, token = authorization.strip().partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
