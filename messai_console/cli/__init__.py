"""The ``messai-console`` command."""

from messai_console.cli.app import app, main

__all__ = ["app", "main"]
