"""``messai-console web``: the console in a browser, through textual-serve."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from messai_console.cli.runtime import EXIT_FAILED, fail, runtime


def web(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Address to listen on; other than loopback only with tokens.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8001,
    tokens_file: Annotated[
        Path | None,
        typer.Option(
            help="Bearer tokens as for `serve` (also MESSAI_API_TOKENS, MESSAI_API_TOKENS_FILE).",
            show_default=False,
        ),
    ] = None,
    writable: Annotated[
        bool,
        typer.Option(
            "--writable",
            help="Let the browser console change queues (then tokens need the operate scope).",
        ),
    ] = False,
) -> None:
    """Serve the console to browsers: read-only unless --writable; open
    http://HOST:PORT/ (with tokens: /?token=TOKEN once)."""
    from messai_console.api import ApiConfig
    from messai_console.api.auth import TokenConfigError, is_loopback
    from messai_console.web import console
    from messai_console.web.server import ConsoleWebServer

    state = runtime(ctx)
    try:
        tokens = ApiConfig.from_env(tokens_file=tokens_file).tokens
    except (TokenConfigError, ValueError) as exc:
        fail(str(exc), EXIT_FAILED)
    if not tokens.enabled and not is_loopback(host):
        fail(
            f"refusing to listen on {host} without tokens: set MESSAI_API_TOKENS or"
            " --tokens-file, or listen on 127.0.0.1",
            EXIT_FAILED,
        )
    readonly = state.readonly or not writable
    # The console processes inherit this environment: they get the Redis to use
    # and never the tokens.
    os.environ[console.URL_VARIABLE] = state.url()
    os.environ[console.PREFIX_VARIABLE] = state.prefix
    os.environ[console.READONLY_VARIABLE] = "1" if readonly else "0"
    for name in ("MESSAI_API_TOKENS", "MESSAI_API_TOKENS_FILE"):
        os.environ.pop(name, None)
    server = ConsoleWebServer(tokens, "operate" if not readonly else "read", host, port)
    print(
        f"console ({'read-only' if readonly else 'writable'}) at http://{host}:{port}/"
        + (" (open /?token=<token> once)" if tokens.enabled else " (no tokens: loopback only)"),
        file=sys.stderr,
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(server.run())
