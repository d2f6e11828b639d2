"""``python -m messai_console.cli``: the same as the ``messai-console`` command."""

from messai_console.cli.app import main

main()
