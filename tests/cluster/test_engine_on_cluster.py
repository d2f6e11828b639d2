"""The engine suite's main behaviours, run against the three-master cluster.

The tests are those of ``tests/engine``, imported unchanged: collected here
they take this directory's ``redis_url`` and ``redis_client`` (a
``redis+cluster://`` client from ``engine.connect``), so each one runs its
queue on the master that owns the queue's slot. Covered: add and bulk add,
fetch and finish, retries and backoff, delays, priorities and order, pause,
drain, cancel, obliterate, the queue registry, events, metrics, rate limits
and global concurrency, schedules (several schedulers, one killed), and
chains and flows within one queue.

Left out on purpose: ``test_round_trips`` (counts one server's commands),
and cross-queue chains and flows (``test_flows`` tests that span queues):
their hand-off between masters is not built yet, and the engine refuses
them on a cluster (``test_cluster_graphs``).
"""

from __future__ import annotations

from tests.engine.test_admin import *  # noqa: F403
from tests.engine.test_events_metrics import *  # noqa: F403
from tests.engine.test_flows import *  # noqa: F403
from tests.engine.test_job_data import *  # noqa: F403
from tests.engine.test_order import *  # noqa: F403
from tests.engine.test_queue_limits_and_priorities import *  # noqa: F403
from tests.engine.test_retries import *  # noqa: F403
from tests.engine.test_schedules import *  # noqa: F403
