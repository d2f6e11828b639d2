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

On a Redis Cluster a chain or flow keeps its jobs in one queue (one slot)
for now: one across queues is refused (InvalidJobError) before anything is
written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from engine.cluster import is_cluster
from engine.contracts.add import AddGraphReply, AddGraphRequest, DependencyMode, GraphJob
from engine.contracts.base import call
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
        raise InvalidJobError(
            "on a Redis Cluster a chain or flow keeps all its jobs in one queue for now "
            f"(its queues {', '.join(queues)} are in different slots, and steps are not "
            "handed over between masters yet)"
        )
    reply = AddGraphReply.parse(await call(redis, QueueKeys(nodes[0].queue, prefix), request))
    jobs = []
    for node, added in zip(nodes, reply.jobs, strict=True):
        state = "pending" if node.deps else "delayed" if node.options.delay_ms else "waiting"
        jobs.append(
            Job(
                id=added.id,
                queue=node.queue,
                name=node.name,
                data=node.data,
                state=state,
                options=node.options,
            )
        )
    return jobs


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
