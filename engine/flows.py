"""Jobs that wait for other jobs: chains and flows, across queues.

A chain runs its steps one after another; each step receives the result of
the one before (``ctx.previous_result``). A step that fails for good fails
the steps after it with "dependency <queue>:<id> failed: ..."; retrying the
failed step (``Queue.retry_job``) makes them wait again, so the chain
resumes::

    jobs = await (
        JobChain(redis)
        .add("paper-processing", "extract_pdf", {"paper_id": "p-1"})
        .add("paper-processing", "analyze_content", {"paper_id": "p-1"})
        .add("email-notifications", "paper_processed", {"paper_id": "p-1"})
        .execute()
    )

A flow is a parent job with children in any queues: the children run
first; the parent runs when all have finished, with their results in
``ctx.dependency_results``. A child's failure fails the parent unless the
child is marked ``ignore_failure``; so does a child deleted before it ran
(``Queue.remove``, ``clean``, ``drain``, ``cancel``, ``obliterate``). A
parent's ``delay_ms`` counts from the end of its last child. Removing a
parent (``Queue.remove_job``) removes its descendants that have not run,
in every queue, and is refused while one of them runs; for a chain, the
steps before the removed one. Every job of a chain or flow is created in
one script call: all of them or none.

On a Redis Cluster a chain or flow across queues (in different slots) is
created one queue at a time, and a step that ends hands what it owes a job
of another queue over through its queue's outbox (:mod:`engine.outbox`).
Creation: first the ids of every job are fixed (a job's own id, or numbers
taken from its queue's sequence, ``reserve_ids``), so each job names the
jobs of other queues it waits for and that wait for it; then the jobs are
added level by level from the jobs nobody waits for (a flow's parent, a
chain's last step) down to those that wait for nothing, one call per queue
and level (``add_graph_part``). A job is thus added only after every job
that waits for it, and those wait in ``pending``: a crash or an error
between two calls leaves pending jobs that never run (remove them with
``Queue.remove_job``), never a job that runs while a job waiting for it is
missing. Each call adds its jobs all or none, the graph as a whole is not
atomic there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from engine.cluster import is_cluster
from engine.contracts.add import AddGraphReply, AddGraphRequest, DependencyMode, GraphJob
from engine.contracts.base import call
from engine.contracts.outbox import (
    AddGraphPartReply,
    AddGraphPartRequest,
    GraphPartJob,
    ReserveIdsRequest,
)
from engine.errors import InvalidJobError
from engine.job import Job
from engine.keys import DEFAULT_PREFIX, QueueKeys, validate_queue_name
from engine.options import JobOptions, parse_options

MAX_GRAPH_JOBS = 10_000
"""Jobs in one chain or flow: the whole graph is created in one script call."""


@dataclass
class FlowJob:
    """One job of a flow, with the jobs it waits for."""

    queue: str
    name: str
    data: Any = None
    options: JobOptions | Mapping[str, Any] | None = None
    children: list[FlowJob] = field(default_factory=list)
    ignore_failure: bool = False
    """When this job fails for good, the job waiting for it runs anyway."""


@dataclass
class _Node:
    queue: str
    name: str
    data: Any
    options: JobOptions
    deps: int = 0
    dependents: list[tuple[int, DependencyMode]] = field(default_factory=list)


async def _add_graph(redis: Redis, nodes: list[_Node], prefix: str) -> list[Job]:
    if not nodes:
        raise InvalidJobError("a chain or flow needs at least one job")
    if len(nodes) > MAX_GRAPH_JOBS:
        raise InvalidJobError(
            f"a chain or flow may hold at most {MAX_GRAPH_JOBS} jobs, not {len(nodes)}"
        )
    request = AddGraphRequest(
        tuple(
            GraphJob.of(
                validate_queue_name(node.queue),
                node.name,
                node.data,
                node.options,
                node.deps,
                node.dependents,
            )
            for node in nodes
        )
    )
    queues = sorted({node.queue for node in nodes})
    if len(queues) > 1 and is_cluster(redis):
        ids = await _add_by_queue(redis, nodes, request.jobs, prefix)
    else:
        reply = AddGraphReply.parse(await call(redis, QueueKeys(nodes[0].queue, prefix), request))
        ids = [added.id for added in reply.jobs]
    jobs = []
    for node, job_id in zip(nodes, ids, strict=True):
        state = "pending" if node.deps else "delayed" if node.options.delay_ms else "waiting"
        jobs.append(
            Job(
                id=job_id,
                queue=node.queue,
                name=node.name,
                data=node.data,
                state=state,
                options=node.options,
            )
        )
    return jobs


PART_JOBS = 1000
"""Jobs per call when a graph is added one queue at a time."""


def _levels(nodes: list[_Node]) -> list[int]:
    """Per node, the longest path to a job nobody waits for (0 for those)."""
    levels: list[int | None] = [None] * len(nodes)
    for start in range(len(nodes)):
        stack = [start]
        while stack:
            index = stack[-1]
            pending = [d for d, _ in nodes[index].dependents if levels[d] is None]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            deps = [levels[d] for d, _ in nodes[index].dependents]
            levels[index] = 1 + max(level for level in deps if level is not None) if deps else 0
    return [level or 0 for level in levels]


async def _add_by_queue(
    redis: Redis, nodes: list[_Node], jobs: tuple[GraphJob, ...], prefix: str
) -> list[str]:
    """Add a graph over queues in different slots, one queue and level at a
    time (see the module's docstring); returns the ids, in node order."""
    ids = [job.job_id for job in jobs]
    unnamed: dict[str, list[int]] = {}
    for index, job in enumerate(jobs):
        if not job.job_id:
            unnamed.setdefault(job.queue, []).append(index)
    for queue, indexes in unnamed.items():
        first = int(await call(redis, QueueKeys(queue, prefix), ReserveIdsRequest(len(indexes))))
        for offset, index in enumerate(indexes):
            ids[index] = str(first + offset)
    children: list[list[str]] = [[] for _ in nodes]
    for index, node in enumerate(nodes):
        for dependent, _mode in node.dependents:
            children[dependent].append(f"{node.queue}|{ids[index]}")
    groups: dict[tuple[int, str], list[int]] = {}
    for index, level in enumerate(_levels(nodes)):
        groups.setdefault((level, nodes[index].queue), []).append(index)
    for level, queue in sorted(groups):
        members = groups[(level, queue)]
        for start in range(0, len(members), PART_JOBS):
            part = tuple(
                GraphPartJob(
                    ids[i],
                    jobs[i].name,
                    jobs[i].data,
                    jobs[i].options,
                    jobs[i].priority,
                    jobs[i].lifo,
                    jobs[i].delay_ms,
                    jobs[i].dependencies,
                    "\n".join(
                        f"{nodes[d].queue}|{ids[d]}|{mode.value}" for d, mode in nodes[i].dependents
                    ),
                    "\n".join(children[i]),
                )
                for i in members[start : start + PART_JOBS]
            )
            try:
                raw = await call(redis, QueueKeys(queue, prefix), AddGraphPartRequest(part))
            except ResponseError as exc:
                reason, _, detail = str(exc).partition(":")
                if reason == "bad-id":
                    raise InvalidJobError(f"a job of queue {queue!r}: {detail}") from None
                raise
            for i, (job_id, _created) in zip(
                members[start : start + PART_JOBS], AddGraphPartReply.parse(raw).jobs, strict=True
            ):
                ids[i] = job_id
    return ids


class JobChain:
    """Steps that run one after another, across any queues.

    Args:
        redis: an asyncio client (``decode_responses=True``); may instead be
            given to :meth:`execute`.
        prefix: key prefix of the deployment.
    """

    def __init__(self, redis: Redis | None = None, prefix: str = DEFAULT_PREFIX) -> None:
        self.redis = redis
        self.prefix = prefix
        self._nodes: list[_Node] = []

    def add(
        self,
        queue: str,
        name: str,
        data: Any = None,
        options: JobOptions | Mapping[str, Any] | None = None,
        **option_fields: Any,
    ) -> JobChain:
        opts = parse_options(
            dict(options) if isinstance(options, Mapping) else options, **option_fields
        )
        node = _Node(queue, name, data, opts)
        if self._nodes:
            node.deps = 1
            self._nodes[-1].dependents.append((len(self._nodes), DependencyMode.FAIL))
        self._nodes.append(node)
        return self

    async def execute(self, redis: Redis | None = None) -> list[Job]:
        """Create every step (all or none); returns them in order."""
        client = redis or self.redis
        if client is None:
            raise ValueError("JobChain needs a Redis client: JobChain(redis) or execute(redis)")
        return await _add_graph(client, self._nodes, self.prefix)


async def add_flow(redis: Redis, flow: FlowJob, prefix: str = DEFAULT_PREFIX) -> list[Job]:
    """Create a flow (all or none); returns its jobs, the parent first."""
    nodes: list[_Node] = []

    def visit(job: FlowJob, parent: int | None) -> None:
        opts = parse_options(dict(job.options) if isinstance(job.options, Mapping) else job.options)
        index = len(nodes)
        nodes.append(_Node(job.queue, job.name, job.data, opts, deps=len(job.children)))
        if parent is not None:
            mode = DependencyMode.IGNORE if job.ignore_failure else DependencyMode.FAIL
            nodes[index].dependents.append((parent, mode))
        for child in job.children:
            visit(child, index)

    visit(flow, None)
    return await _add_graph(redis, nodes, prefix)
