"""/api/jobs: every endpoint against a real Redis, through the ASGI app."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import redis.asyncio

from engine import Queue

PAPER = {"type": "paper.extract_pdf", "data": {"paper_id": "paper-123"}}


async def add(api: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post("/api/jobs", json=body)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_post_a_catalog_job_by_short_name_full_name_and_pair(
    api: httpx.AsyncClient, redis_async: redis.asyncio.Redis
) -> None:
    first = await add(api, PAPER)
    assert first["queue"] == "paper-processing" and first["name"] == "extract_pdf"
    assert first["state"] == "waiting" and first["data"] == {"paper_id": "paper-123"}
    assert first["options"]["attempts"] == 3  # the job type's defaults
    second = await add(
        api, {"type": "paper-processing.analyze_content", "data": {"paper_id": "p-2"}}
    )
    third = await add(
        api,
        {
            "type": {"queue": "email-notifications", "name": "welcome"},
            "data": {"to": "user@example.com", "context": {"name": "Ada"}, "priority": "high"},
            "options": {"job_id": "welcome-ada"},
        },
    )
    assert third["id"] == "welcome-ada" and third["options"]["priority"] == 1
    queue = Queue("paper-processing", redis_async)
    assert (await queue.counts())["waiting"] == 2
    stored = await queue.get_job(second["id"])
    assert stored is not None and stored.name == "analyze_content"


async def test_a_bad_payload_is_a_422_naming_each_field_and_writes_nothing(
    api: httpx.AsyncClient, redis_async: redis.asyncio.Redis
) -> None:
    response = await api.post(
        "/api/jobs",
        json={
            "type": "email.welcome",
            "data": {"to": 42, "colour": "red"},
            "options": {"attempts": 0},
        },
    )
    assert response.status_code == 422
    locations = {tuple(problem["loc"]) for problem in response.json()["detail"]}
    assert ("body", "data", "to") in locations
    assert ("body", "data", "colour") in locations
    assert ("body", "options", "attempts") in locations
    assert await redis_async.keys("*") == []


async def test_unknown_types_and_malformed_bodies_are_422(
    api: httpx.AsyncClient, redis_async: redis.asyncio.Redis
) -> None:
    for body in (
        {"type": "paper.no_such_step", "data": {"paper_id": "p"}},
        {"type": "nowhere.extract_pdf"},
        {"type": "no-dot"},
        {"data": {}},
        {"type": "paper.extract_pdf", "surprise": 1},
    ):
        response = await api.post("/api/jobs", json=body)
        assert response.status_code == 422, body
        assert isinstance(response.json()["detail"], list)
    broken = await api.post(
        "/api/jobs", content=b'{"type": "paper.', headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422
    assert await redis_async.keys("*") == []


async def test_overview_queues_and_performance_views(api: httpx.AsyncClient) -> None:
    await add(api, PAPER)
    overview = (await api.get("/api/jobs", params={"view": "overview"})).json()
    assert overview["queues"] == 1 and overview["jobs"]["waiting"] == 1
    assert overview["redis"]["url"].startswith("redis://")
    queues = (await api.get("/api/jobs?view=queues")).json()
    assert queues == [
        {
            "name": "paper-processing",
            "waiting": 1,
            "active": 0,
            "delayed": 0,
            "completed": 0,
            "failed": 0,
            "pending": 0,
            "paused": False,
        }
    ]
    performance = (await api.get("/api/jobs?view=performance&timeRange=day")).json()
    assert performance["range"] == "day" and performance["minutes"] == 1440
    assert [row["queue"] for row in performance["queues"]] == ["paper-processing"]
    assert (await api.get("/api/jobs?view=nope")).status_code == 422
    assert (await api.get("/api/jobs?view=performance&timeRange=year")).status_code == 422


async def test_queue_page_stats_and_job_detail_with_logs(
    api: httpx.AsyncClient, redis_async: redis.asyncio.Redis
) -> None:
    ids = [(await add(api, {"type": "paper.noop", "data": {"n": n}}))["id"] for n in range(5)]
    page = (
        await api.get("/api/jobs/paper-processing?view=jobs&status=waiting&limit=2&offset=1")
    ).json()
    assert page["total"] == 5 and page["offset"] == 1 and page["limit"] == 2
    assert [job["id"] for job in page["jobs"]] == ids[1:3]
    stats = (await api.get("/api/jobs/paper-processing?view=stats")).json()
    assert stats["waiting"] == 5 and stats["paused"] is False
    await redis_async.rpush(Queue("paper-processing", redis_async).keys.logs(ids[0]), "line one")
    detail = (await api.get(f"/api/jobs/paper-processing/{ids[0]}")).json()
    assert detail["id"] == ids[0] and detail["logs"] == ["line one"]
    assert (await api.get("/api/jobs/paper-processing/nope")).status_code == 404
    assert (await api.get("/api/jobs/no-such-queue")).status_code == 404
    assert (await api.get("/api/jobs/paper-processing?limit=0")).status_code == 422
    assert (await api.get("/api/jobs/paper-processing?status=lost")).status_code == 422


async def test_queue_actions_pause_resume_drain(
    api: httpx.AsyncClient, redis_async: redis.asyncio.Redis
) -> None:
    await add(api, PAPER)
    queue = Queue("paper-processing", redis_async)
    answer = (await api.post("/api/jobs/paper-processing", json={"action": "pause"})).json()
    assert answer == {"queue": "paper-processing", "action": "pause", "removed": None}
    assert await queue.is_paused()
    await api.post("/api/jobs/paper-processing", json={"action": "resume"})
    assert not await queue.is_paused()
    drained = (await api.post("/api/jobs/paper-processing", json={"action": "drain"})).json()
    assert drained["removed"] == 1 and (await queue.counts())["waiting"] == 0
    bad = await api.post("/api/jobs/paper-processing", json={"action": "explode"})
    assert bad.status_code == 422
    missing = await api.post("/api/jobs/nowhere", json={"action": "pause"})
    assert missing.status_code == 404
    assert not await redis_async.sismember("messai:queues", "nowhere")


async def test_job_actions_promote_cancel_remove_retry(
    api: httpx.AsyncClient, redis_async: redis.asyncio.Redis
) -> None:
    queue = Queue("paper-processing", redis_async)
    delayed = await add(api, {**PAPER, "options": {"delay_ms": 60_000}})
    path = f"/api/jobs/paper-processing/{delayed['id']}"
    promoted = (await api.post(path, json={"action": "promote"})).json()
    assert promoted["outcome"] == "promoted"
    assert (await queue.require_job(delayed["id"])).state == "waiting"
    again = await api.post(path, json={"action": "promote"})
    assert again.status_code == 409 and "not delayed" in again.json()["detail"]
    assert (await api.post(path, json={"action": "cancel"})).json()["outcome"] == "removed"
    assert (await api.post(path, json={"action": "remove"})).status_code == 404

    other = await add(api, {"type": "paper.noop"})
    other_path = f"/api/jobs/paper-processing/{other['id']}"
    assert (await api.post(other_path, json={"action": "retry"})).status_code == 409
    removed = (await api.post(other_path, json={"action": "remove"})).json()
    assert removed["outcome"] == "waiting"


async def test_hostile_strings_come_back_as_json_strings(
    api: httpx.AsyncClient, redis_async: redis.asyncio.Redis
) -> None:
    hostile = "<script>alert(1)</script> [bold]red[/bold] \x1b[31m\x07 & \u2028"
    job = await add(api, {"type": "paper.echo", "data": {"text": hostile}})
    await redis_async.rpush(Queue("paper-processing", redis_async).keys.logs(job["id"]), hostile)
    response = await api.get(f"/api/jobs/paper-processing/{job['id']}")
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
    raw = response.content
    assert b"<" not in raw and b">" not in raw and b"\x1b" not in raw and b"\x07" not in raw
    assert b"\\u003cscript\\u003e" in raw and b"[bold]" in raw
    body = orjson.loads(raw)
    assert body["data"]["text"] == hostile and body["logs"] == [hostile]
    listed = (await api.get("/api/jobs/paper-processing?status=waiting")).json()
    assert listed["jobs"][0]["data"]["text"] == hostile


async def test_openapi_documents_every_field(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    assert {"/api/jobs", "/api/jobs/{queue}", "/api/jobs/{queue}/{job_id}", "/metrics"} <= set(
        spec["paths"]
    )
    job = spec["components"]["schemas"]["JobModel"]["properties"]
    undocumented = [name for name, field in job.items() if not field.get("description")]
    assert undocumented == []
    docs = await api.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
