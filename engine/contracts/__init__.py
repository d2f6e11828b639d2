"""One typed contract per Lua script: its arguments by name, its reply parsed.

Callers (the worker, :class:`engine.queue.Queue`, schedules, flows) build a
request object here and never a positional list; see :mod:`engine.contracts.base`.

- :mod:`~engine.contracts.add`: ``add``, ``add_graph``
- :mod:`~engine.contracts.admin`: ``pause``, ``drain``, ``clean``,
  ``obliterate``, ``retry``, ``cancel``, ``remove``, ``promote``
- :mod:`~engine.contracts.reads`: ``get_jobs``, ``drop_ghosts``
- :mod:`~engine.contracts.schedules`: ``schedule_due``, ``schedule_fire``,
  ``schedule_upsert`` (keys of their own)

Names: ``<Script>Request`` for the arguments (a frozen dataclass),
``<Script>Reply.parse(raw)`` for the reply, items of a repeated group as
NamedTuples; run with ``call(client, queue_keys, request)`` or, for keys of
the script's own, ``call_own_keys(client, prefix, request)``.
"""
