"""paper-processing end to end: real PDFs, a real worker, real Redis."""

from __future__ import annotations

import asyncio
import email
from email import policy
from pathlib import Path

import redis.asyncio

from engine import Queue, Worker
from messai_console.jobs import creators
from messai_console.jobs.embeddings import from_blob
from messai_console.jobs.types.paper_processing import search_papers
from messai_console.store import Store
from messai_console.store.samples import KNOWN_SENTENCE, SeededData
from tests.catalog.conftest import completed, finished, run


async def test_extract_pdf_stores_text_and_metadata(
    redis_client: redis.asyncio.Redis, seeded: SeededData, store: Store, worker: Worker
) -> None:
    paper_id = seeded.papers[0]
    result = completed(
        await run(redis_client, "paper-processing", "extract_pdf", {"paper_id": paper_id})
    )
    paper = store.get("papers", paper_id)
    assert paper is not None
    assert KNOWN_SENTENCE in " ".join(paper["text"].split())
    assert paper["status"] == "extracted"
    assert paper["metadata"]["title"].startswith("Power generation from acetate-fed")
    assert paper["metadata"]["author"] == "L. Moreno, K. Okafor, J. Lindqvist"
    assert result["pages"] == paper["page_count"] >= 1
    assert result["words"] > 200


async def test_extract_parameters_finds_the_power_density_with_its_unit(
    redis_client: redis.asyncio.Redis, seeded: SeededData, store: Store, worker: Worker
) -> None:
    paper_id = seeded.papers[0]
    result = completed(
        await run(redis_client, "paper-processing", "extract_parameters", {"paper_id": paper_id})
    )
    rows = store.rows("parameters", {"paper_id": paper_id})
    found = {(row["name"], row["value"], row["unit"]) for row in rows}
    assert ("power_density", 1250.0, "mW/m²") in found
    assert ("current_density", 3.4, "A/m²") in found
    assert ("voltage", 0.72, "V") in found
    assert ("coulombic_efficiency", 38.0, "%") in found
    assert ("cod_removal", 87.0, "%") in found
    materials = {(row["name"], row["value_text"]) for row in rows if row["value_text"]}
    assert ("anode_material", "carbon cloth") in materials
    assert result["parameters"] == len(rows)


async def test_analyze_content_finds_sections_keywords_and_statistics(
    redis_client: redis.asyncio.Redis, seeded: SeededData, store: Store, worker: Worker
) -> None:
    paper_id = seeded.papers[1]
    result = completed(
        await run(redis_client, "paper-processing", "analyze_content", {"paper_id": paper_id})
    )
    assert result["sections"][:3] == ["abstract", "introduction", "methods"]
    assert "hydrogen" in result["keywords"]
    analysis = store.get("papers", paper_id)["analysis"]  # type: ignore[index]
    assert analysis["statistics"]["words"] == result["words"] > 100
    assert analysis["statistics"]["sentences"] > 5


async def test_embeddings_rank_the_matching_paper_first(
    redis_client: redis.asyncio.Redis, seeded: SeededData, store: Store, worker: Worker
) -> None:
    for paper_id in seeded.papers:
        result = completed(
            await run(
                redis_client,
                "paper-processing",
                "generate_embeddings",
                {"paper_id": paper_id, "dims": 512},
            )
        )
        assert result["dims"] == 512
    rows = store.rows("embeddings")
    assert len(rows) == len(seeded.papers) and all(len(row["vector"]) == 512 * 4 for row in rows)
    best = search_papers(store, "hydrogen production microbial electrolysis cell cathode")
    assert best[0]["id"] == "paper-mec-hydrogen"
    assert best[0]["score"] > best[1]["score"]


async def test_chain_extract_then_analyze_then_paper_processed_email(
    redis_client: redis.asyncio.Redis, seeded: SeededData, store: Store, worker: Worker
) -> None:
    paper_id = seeded.papers[0]
    extract, analyze, mail = await creators.paper_pipeline(
        paper_id,
        ["extract_pdf", "analyze_content"],
        notify="lena.moreno@example.com",
        redis=redis_client,
    )
    assert (extract.state, analyze.state, mail.state) == ("waiting", "pending", "pending")
    assert (
        completed(await finished(redis_client, "paper-processing", extract.id))["paper_id"]
        == paper_id
    )
    assert (
        completed(await finished(redis_client, "paper-processing", analyze.id))["paper_id"]
        == paper_id
    )
    sent = completed(await finished(redis_client, "email-notifications", mail.id))
    raw = await asyncio.to_thread(Path(sent["where"]).read_bytes)
    message = email.message_from_bytes(raw, policy=policy.default)
    assert message["To"] == "lena.moreno@example.com"
    assert message["Subject"].startswith("Paper processed: Power generation from acetate-fed")
    body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Keywords:" in body and "words:" in body  # completed from the store's analysis


async def test_a_failed_step_fails_the_rest_of_its_chain(
    redis_client: redis.asyncio.Redis, seeded: SeededData, worker: Worker
) -> None:
    extract, analyze, mail = await creators.paper_pipeline(
        seeded.corrupt_paper, notify="lena.moreno@example.com", redis=redis_client, attempts=1
    )
    assert (await finished(redis_client, "paper-processing", extract.id)).state == "failed"
    skipped = await finished(redis_client, "paper-processing", analyze.id)
    assert skipped.state == "failed" and "dependency" in (skipped.error or "")
    assert (await finished(redis_client, "email-notifications", mail.id)).state == "failed"


async def test_unreadable_pdf_fails_after_its_retries_and_marks_the_paper(
    redis_client: redis.asyncio.Redis, seeded: SeededData, store: Store, worker: Worker
) -> None:
    job = await run(
        redis_client,
        "paper-processing",
        "extract_pdf",
        {"paper_id": seeded.corrupt_paper},
        attempts=2,
        backoff={"type": "fixed", "delay_ms": 50},
    )
    assert job.state == "failed"
    assert job.attempts_made == 2
    assert "not a readable PDF" in (job.error or "")
    assert store.get("papers", seeded.corrupt_paper)["status"] == "failed"  # type: ignore[index]


async def test_a_hand_made_job_with_a_bad_payload_fails_at_once(
    redis_client: redis.asyncio.Redis, seeded: SeededData, worker: Worker
) -> None:
    queue = Queue("paper-processing", redis_client)
    job = await queue.add("generate_embeddings", {"paper": "x", "method": "bert"}, attempts=5)
    failed = await finished(redis_client, "paper-processing", job.id)
    assert failed.state == "failed"
    assert failed.attempts_made == 1
    assert failed.error is not None
    assert "invalid payload for paper-processing/generate_embeddings" in failed.error
    assert "paper_id: field required" in failed.error
    assert "method: input should be 'hashing' or 'lsa'" in failed.error
    assert "paper: extra inputs are not permitted" in failed.error


async def test_lsa_embeddings_fit_on_the_stored_papers(
    redis_client: redis.asyncio.Redis, seeded: SeededData, store: Store, worker: Worker
) -> None:
    for paper_id in seeded.papers:
        completed(
            await run(redis_client, "paper-processing", "extract_pdf", {"paper_id": paper_id})
        )
    result = completed(
        await run(
            redis_client,
            "paper-processing",
            "generate_embeddings",
            {"paper_id": seeded.papers[0], "method": "lsa", "dims": 16},
        )
    )
    assert 1 <= result["dims"] <= 16
    row = store.get("embeddings", (seeded.papers[0], "lsa"))
    assert row is not None
    vector = from_blob(row["vector"])
    assert vector.shape == (result["dims"],)
    assert abs(float((vector**2).sum()) - 1.0) < 1e-4
