"""The embedded Redis: the application's own redis-server, and the choice to use it.

The engine never imports this package: a producer connects to the Redis it
is given. The CLI, the console, the demo and the tests opt in here:

- :func:`redis_url_or_embedded`: the configured Redis, else one on the default
  address, else the user's embedded server (started on demand);
- :func:`ensure_embedded` / :func:`embedded_status` / :func:`stop_embedded`:
  the user's server in the data directory, shared by every later process;
- :func:`start_server`: a redis-server process of one's own (tests, screenshots).
"""

from messai_console.embedded.resolve import DEFAULT_URL, redis_url_or_embedded
from messai_console.embedded.server import (
    EmbeddedRedisError,
    EmbeddedServer,
    find_free_port,
    find_redis_server,
    start_server,
)
from messai_console.embedded.user_server import embedded_status, ensure_embedded, stop_embedded

__all__ = [
    "DEFAULT_URL",
    "EmbeddedRedisError",
    "EmbeddedServer",
    "embedded_status",
    "ensure_embedded",
    "find_free_port",
    "find_redis_server",
    "redis_url_or_embedded",
    "start_server",
    "stop_embedded",
]
