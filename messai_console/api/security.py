"""Who may call what: the bearer token of a request, checked against a scope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import HTTPException
from starlette.requests import HTTPConnection

from messai_console.api.auth import (
    OPEN_ACCESS,
    TOKEN_QUERY_PARAMETER,
    Principal,
    TokenTable,
    bearer_token,
)


class AuthProblem(Exception):
    """401 (no or unknown token) or 403 (a scope missing); the message names no token."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def authenticate(connection: HTTPConnection, scope: str) -> Principal:
    """The caller of ``connection`` if it may use ``scope``; AuthProblem otherwise.

    The token comes from ``Authorization: Bearer``, or the ``access_token``
    query parameter for browsers' WebSocket and EventSource."""
    tokens: TokenTable = connection.app.state.config.tokens
    if not tokens.enabled:
        return OPEN_ACCESS
    presented = bearer_token(connection.headers.get("authorization"))
    if presented is None:
        presented = connection.query_params.get(TOKEN_QUERY_PARAMETER) or None
    if presented is None:
        raise AuthProblem(401, "authentication required: send Authorization: Bearer <token>")
    principal = tokens.lookup(presented)
    if principal is None:
        raise AuthProblem(401, "unknown token")
    if not principal.allows(scope):
        raise AuthProblem(403, f"this token lacks the {scope!r} scope")
    return principal


def require(scope: str) -> Callable[[HTTPConnection], Awaitable[Principal]]:
    """A dependency that lets the request through only with ``scope``."""

    async def dependency(connection: HTTPConnection) -> Principal:
        try:
            return authenticate(connection, scope)
        except AuthProblem as problem:
            headers = {"WWW-Authenticate": "Bearer"} if problem.status == 401 else None
            raise HTTPException(problem.status, problem.detail, headers=headers) from None

    dependency.__name__ = f"require_{scope}"
    return dependency
