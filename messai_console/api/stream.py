"""``/api/ws`` (WebSocket) and ``/api/events`` (Server-Sent Events): live updates.

WebSocket: after connecting (token in ``Authorization`` or ``?access_token=``,
scope ``read``), the client sends JSON requests:

- ``{"type": "subscribe", "queues": ["paper-processing"], "since": "<id>"}``:
  every event of those queues and their counts once a second; ``since``
  (optional: a stream id, or ``{queue: id}``) first replays the events kept
  after it.
- ``{"type": "subscribe", "job": {"queue": "q", "id": "42"}}``: the job now,
  then its state changes and progress.
- ``{"type": "unsubscribe", "queues": [...]}`` (or no ``queues``: everything).

Server-Sent Events: ``GET /api/events?queue=q&queue=q2`` or
``?job_queue=q&job_id=42``; each event carries an id that resumes every queue
followed (``Last-Event-ID``, or ``?since=``). The messages are those of
``messai_console.api.live``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse
from redis.exceptions import RedisError

from engine.keys import validate_queue_name
from engine.queue import Queue
from messai_console.api.live import LiveHub, Outgoing, Subscriber, message_outgoing
from messai_console.api.responses import safe_json_text
from messai_console.api.security import AuthProblem, authenticate

router = APIRouter(tags=["live"])
log = logging.getLogger("messai_console.api")

SSE_KEEPALIVE_S = 15.0
MAX_QUEUES_PER_REQUEST = 100


class BadRequest(Exception):
    pass


def _since_for(since: Any, queue: str) -> str | None:
    """A client's resume point for ``queue``: one id for all, or one per queue."""
    if isinstance(since, dict):
        value = since.get(queue)
        return str(value) if value else None
    return str(since) if since else None


def parse_cursor(cursor: str | None) -> dict[str, str] | str | None:
    """An SSE event id (``queue:id|queue:id``) or a plain stream id."""
    if not cursor:
        return None
    if ":" not in cursor:
        return cursor
    positions = {}
    for part in cursor.split("|"):
        queue, _, stream_id = part.rpartition(":")
        if queue and stream_id:
            positions[queue] = stream_id
    return positions


def _valid_stream_id(value: str) -> bool:
    ms, _, seq = value.partition("-")
    return ms.isdigit() and (seq == "" or seq.isdigit())


class LiveSession:
    """One client's subscriptions, over WebSocket or SSE."""

    def __init__(self, request_app: Any) -> None:
        self.hub: LiveHub = request_app.state.live
        self.prefix: str = request_app.state.prefix
        self.subscriber = Subscriber(request_app.state.config.client_buffer)
        self.jobs: dict[str, set[str]] = {}

    async def _check_queue(self, name: Any) -> str:
        if not isinstance(name, str):
            raise BadRequest("a queue name must be a string")
        try:
            validate_queue_name(name)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        if not await Queue(name, self.hub.redis, prefix=self.prefix).exists():
            raise BadRequest(f"unknown queue {name!r}")
        return name

    def _check_since(self, since: Any) -> Any:
        values = since.values() if isinstance(since, dict) else [since] if since else []
        for value in values:
            if not isinstance(value, str) or not _valid_stream_id(value):
                raise BadRequest("since must be a stream id like 1700000000000-0")
        return since

    async def subscribe_queues(self, names: Any, since: Any = None) -> list[str]:
        if not isinstance(names, list) or not names or len(names) > MAX_QUEUES_PER_REQUEST:
            raise BadRequest(f"queues must be a list of 1 to {MAX_QUEUES_PER_REQUEST} names")
        checked = [await self._check_queue(name) for name in names]
        self._check_since(since)
        for name in checked:
            await self.hub.follow_queue(self.subscriber, name, _since_for(since, name))
        return checked

    async def subscribe_job(self, queue: Any, job_id: Any, since: Any = None) -> None:
        name = await self._check_queue(queue)
        if not isinstance(job_id, str) or not job_id:
            raise BadRequest("a job id must be a non-empty string")
        self._check_since(since)
        found = await self.hub.follow_job(self.subscriber, name, job_id, _since_for(since, name))
        if found is None:
            raise BadRequest(f"no job {job_id!r} on queue {name!r}")

    async def next(self, wait_s: float | None = None) -> Outgoing | None:
        item = await self.subscriber.next(wait_s)
        if item is not None and item.kind == "lagged":
            await self._after_lag()
        return item

    async def _after_lag(self) -> None:
        """A client that lagged gets the jobs it follows as they are now."""
        for name, hub in list(self.hub.hubs.items()):
            interest = hub.interests.get(self.subscriber)
            for job_id in sorted(interest.jobs) if interest else []:
                job = await hub.queue.get_job(job_id)
                if job is not None:
                    self.subscriber.offer(message_outgoing("job", {"job": job.to_dict()}, name))

    async def close(self) -> None:
        await self.hub.unsubscribe(self.subscriber)


@router.websocket("/api/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    """Live updates over WebSocket (see the module's description)."""
    await websocket.accept()
    try:
        authenticate(websocket, "read")
    except AuthProblem as problem:
        await websocket.send_text(
            safe_json_text({"type": "error", "status": problem.status, "detail": problem.detail})
        )
        await websocket.close(code=4000 + problem.status)
        return
    session = LiveSession(websocket.app)
    sender = asyncio.create_task(_send_loop(websocket, session))
    try:
        while True:
            try:
                request = await websocket.receive_json()
            except (ValueError, KeyError):
                session.subscriber.offer(message_outgoing("error", {"detail": "send JSON objects"}))
                continue
            await _handle(session, request)
    except WebSocketDisconnect:
        pass
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        await session.close()


async def _handle(session: LiveSession, request: Any) -> None:
    offer = session.subscriber.offer
    try:
        if not isinstance(request, dict):
            raise BadRequest("send JSON objects with a type")
        kind = request.get("type")
        if kind == "subscribe" and "job" in request:
            job = request["job"]
            if not isinstance(job, dict):
                raise BadRequest("job must be {queue, id}")
            await session.subscribe_job(job.get("queue"), job.get("id"), request.get("since"))
            offer(message_outgoing("subscribed", {"job": {"queue": job["queue"], "id": job["id"]}}))
        elif kind == "subscribe":
            followed = await session.subscribe_queues(request.get("queues"), request.get("since"))
            offer(message_outgoing("subscribed", {"queues": followed}))
        elif kind == "unsubscribe":
            names = request.get("queues")
            for name in names if isinstance(names, list) else [None]:
                await session.hub.unsubscribe(session.subscriber, name)
            offer(message_outgoing("unsubscribed", {"queues": names}))
        else:
            raise BadRequest("unknown request type; use subscribe or unsubscribe")
    except BadRequest as exc:
        offer(message_outgoing("error", {"detail": str(exc)}))
    except RedisError as exc:
        # The connection stays: the client hears why and may send the request again.
        log.warning("live request failed: %s", exc)
        offer(message_outgoing("error", {"detail": "Redis is unreachable; try again"}))


async def _send_loop(websocket: WebSocket, session: LiveSession) -> None:
    while True:
        item = await session.next()
        if item is not None:
            await websocket.send_text(item.text)


@router.get(
    "/api/events",
    summary="Live updates as Server-Sent Events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def server_sent_events(
    request: Request,
    queue: Annotated[
        list[str] | None, Query(description="A queue to follow (repeat for several).")
    ] = None,
    job_queue: Annotated[str | None, Query(description="The queue of a job to follow.")] = None,
    job_id: Annotated[str | None, Query(description="The job to follow.")] = None,
    since: Annotated[
        str | None, Query(description="Resume after this event id (as Last-Event-ID).")
    ] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """The WebSocket's messages as `text/event-stream`: each message's `type` is the SSE
    event name; event messages carry an id that resumes every queue followed."""
    from fastapi import HTTPException

    try:
        authenticate(request, "read")
    except AuthProblem as problem:
        headers = {"WWW-Authenticate": "Bearer"} if problem.status == 401 else None
        raise HTTPException(problem.status, problem.detail, headers=headers) from None
    session = LiveSession(request.app)
    cursor = parse_cursor(last_event_id or since)
    try:
        if job_queue and job_id:
            await session.subscribe_job(job_queue, job_id, cursor)
        elif queue:
            await session.subscribe_queues(queue, cursor)
        else:
            raise BadRequest("give queue=... (repeatable) or job_queue=...&job_id=...")
    except BadRequest as exc:
        await session.close()
        raise HTTPException(422, str(exc)) from None
    return StreamingResponse(
        _sse_lines(session),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _sse_lines(session: LiveSession) -> AsyncIterator[str]:
    positions: dict[str, str] = {}
    try:
        yield "retry: 1000\n\n"
        while True:
            item = await session.next(SSE_KEEPALIVE_S)
            if item is None:
                yield ": keep-alive\n\n"
                continue
            lines = [f"event: {item.kind}"]
            if item.event_id is not None and item.queue is not None:
                positions[item.queue] = item.event_id
                lines.append("id: " + "|".join(f"{q}:{i}" for q, i in sorted(positions.items())))
            lines.append(f"data: {item.text}")
            yield "\n".join(lines) + "\n\n"
    finally:
        await session.close()
