"""The worker: leases jobs, runs their processors, reports the outcomes.

A package of modules by duty, each small enough to read in one sitting:

- :mod:`~engine.worker.lifecycle`: :class:`Worker`, its settings, start,
  stop and signals, and the main loop that decides when to exchange with
  Redis and when to wait;
- :mod:`~engine.worker.exchange`: the exchange with Redis: how many jobs to
  ask for (the prefetch policy), the finish-and-fetch call built from its
  contract (:mod:`engine.contracts.worker`), its reply read;
- :mod:`~engine.worker.runner`: running one job: its context, the
  processor under its timeout, the end of the run turned into an outcome;
- :mod:`~engine.worker.duties`: the background loops: wake-ups,
  heartbeats, the sweep, the cancel listener;
- :mod:`~engine.worker.control`: pause and resume a running worker from
  another process (a command on its control channel and in its registry
  hash);
- :mod:`~engine.worker.slots`: the jobs the worker holds and the one
  account of its slots, with the invariant the tests check after every
  exchange.
"""

from engine.worker.lifecycle import Worker
from engine.worker.reporting import JobListener
from engine.worker.slots import Outcome, RunningJob

__all__ = ["JobListener", "Outcome", "RunningJob", "Worker"]
