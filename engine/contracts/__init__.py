"""One typed contract per Lua script: its arguments by name, its reply parsed.

Callers (the worker, :class:`engine.queue.Queue`, schedules, flows) build a
request object here and never a positional list; see :mod:`engine.contracts.base`.
"""
