"""What the API server is configured with: tokens, CORS origins, limits."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from messai_console.api.auth import TokenTable, load_tokens

DEFAULT_MAX_BODY_BYTES = 1_000_000
DEFAULT_CLIENT_BUFFER = 1000
"""Messages a live client may have waiting before it is told it lagged."""


@dataclass
class ApiConfig:
    """The server's settings; :meth:`from_env` reads them from the environment.

    Variables: ``MESSAI_API_TOKENS`` and ``MESSAI_API_TOKENS_FILE`` (see
    ``messai_console.api.auth``), ``MESSAI_API_CORS_ORIGINS`` (origins allowed
    to call from a browser, comma-separated; none by default),
    ``MESSAI_API_MAX_BODY_BYTES`` (default 1,000,000).
    """

    tokens: TokenTable = field(default_factory=TokenTable)
    cors_origins: list[str] = field(default_factory=list)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    client_buffer: int = DEFAULT_CLIENT_BUFFER
    counts_every_s: float = 1.0
    """How often live clients get the counts of the queues they follow."""

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        tokens_file: Path | None = None,
        cors_origins: list[str] | None = None,
        max_body_bytes: int | None = None,
    ) -> ApiConfig:
        """Options given on the command line go over the variables."""
        env = os.environ if env is None else env
        file = tokens_file or (
            Path(env["MESSAI_API_TOKENS_FILE"]) if env.get("MESSAI_API_TOKENS_FILE") else None
        )
        origins = cors_origins or [
            origin
            for origin in re.split(r"[,\s]+", env.get("MESSAI_API_CORS_ORIGINS", ""))
            if origin
        ]
        limit = max_body_bytes
        if limit is None:
            limit = int(env.get("MESSAI_API_MAX_BODY_BYTES") or DEFAULT_MAX_BODY_BYTES)
        if limit < 1:
            raise ValueError("the body size limit must be at least 1 byte")
        return cls(
            tokens=load_tokens(env.get("MESSAI_API_TOKENS"), file),
            cors_origins=origins,
            max_body_bytes=limit,
        )
