"""``messai-console serve``: the HTTP API with live updates and metrics, under uvicorn."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from messai_console.cli.runtime import EXIT_FAILED, fail, runtime


def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Address to listen on; other than loopback only with tokens.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    tokens_file: Annotated[
        Path | None,
        typer.Option(
            help="Bearer tokens, one SCOPES:TOKEN per line (also MESSAI_API_TOKENS_FILE);"
            " scopes read, enqueue, operate joined by +.",
            show_default=False,
        ),
    ] = None,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            help="An origin browsers may call from (repeat; also MESSAI_API_CORS_ORIGINS).",
            show_default=False,
        ),
    ] = None,
    max_body_bytes: Annotated[
        int | None,
        typer.Option(
            min=1, help="Larger request bodies get 413 (default 1,000,000).", show_default=False
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
) -> None:
    """Serve the HTTP API: /api/jobs, live updates at /api/ws and /api/events,
    /metrics, and OpenAPI docs at /docs."""
    import uvicorn

    from messai_console.api import ApiConfig, create_app
    from messai_console.api.app import RedactTokens
    from messai_console.api.auth import TokenConfigError, is_loopback

    state = runtime(ctx)
    try:
        config = ApiConfig.from_env(
            tokens_file=tokens_file, cors_origins=cors_origin, max_body_bytes=max_body_bytes
        )
    except (TokenConfigError, ValueError) as exc:
        fail(str(exc), EXIT_FAILED)
    if not config.tokens.enabled:
        if not is_loopback(host):
            fail(
                f"refusing to listen on {host} without tokens: set MESSAI_API_TOKENS or"
                " --tokens-file, or listen on 127.0.0.1",
                EXIT_FAILED,
            )
        print(
            "no API tokens configured: listening on loopback only, every request may do anything",
            file=sys.stderr,
            flush=True,
        )
    else:
        print(f"{len(config.tokens)} API tokens configured", file=sys.stderr, flush=True)
    url = state.url()
    app = create_app(url, state.prefix, config)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=log_level,
            ws="websockets-sansio",
            timeout_graceful_shutdown=5,
        )
    )
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())
    asyncio.run(server.serve())
