"""The console process that textual-serve starts for each browser session.

Its settings come from the environment the web server sets (never from the
command line, where other users of the machine could read a password).
"""

from __future__ import annotations

import os

URL_VARIABLE = "MESSAI_WEB_REDIS_URL"
PREFIX_VARIABLE = "MESSAI_WEB_PREFIX"
READONLY_VARIABLE = "MESSAI_WEB_READONLY"


def main() -> None:
    from messai_console.tui import make_app

    make_app(
        os.environ[URL_VARIABLE],
        os.environ.get(PREFIX_VARIABLE, "messai"),
        readonly=os.environ.get(READONLY_VARIABLE, "1") != "0",
    ).run()


if __name__ == "__main__":
    main()
