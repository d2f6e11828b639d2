"""Adding a job whose id exists changes nothing and says so: job:duplicated."""

from __future__ import annotations

from engine import BulkJob, FlowJob, Queue, add_flow


async def _events(queue: Queue, name: str) -> list[dict[str, str]]:
    return [
        fields
        for _sid, fields in await queue.redis.xrange(queue.keys.events)
        if fields["ev"] == name
    ]


async def test_re_adding_a_job_id_writes_job_duplicated(queue: Queue) -> None:
    first = await queue.add("send", {"to": "a"}, job_id="mail-1")
    again = await queue.add("send", {"to": "b"}, job_id="mail-1")
    assert again.id == first.id
    events = await _events(queue, "job:duplicated")
    assert [(e["id"], e.get("n")) for e in events] == [("mail-1", "send")]
    assert (await queue.get_job("mail-1")).data == {"to": "a"}


async def test_bulk_and_flows_write_it_too(queue: Queue) -> None:
    await queue.add("send", job_id="mail-2")
    await queue.add_bulk([BulkJob("send", options={"job_id": "mail-2"}), BulkJob("send")])
    await add_flow(queue.redis, FlowJob("test-queue", "send", options={"job_id": "mail-2"}))
    assert [e["id"] for e in await _events(queue, "job:duplicated")] == ["mail-2", "mail-2"]
