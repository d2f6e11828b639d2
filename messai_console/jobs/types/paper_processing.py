"""``paper-processing``: text and metadata from the PDF, content analysis,
embeddings for search, and the system parameters that MES papers report.

Each step works on its own (a step that needs the text extracts it first);
run them in order with an engine chain, ``creators.paper_pipeline``, which
can end with a ``paper_processed`` email.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from engine.errors import UnrecoverableError
from messai_console.jobs.catalog import Payload, job_type
from messai_console.jobs.embeddings import from_blob, hashing_vectors, lsa_vectors, rank, to_blob
from messai_console.jobs.fields import Identifier
from messai_console.jobs.parameters import extract_parameters as find_parameters
from messai_console.jobs.parameters import summarise
from messai_console.jobs.pdftext import read_pdf
from messai_console.jobs.queues import PAPER_PROCESSING
from messai_console.jobs.runtime import Task
from messai_console.jobs.textmining import find_sections, keywords, statistics
from messai_console.store import Row, Store

QUEUE = PAPER_PROCESSING


class PaperJob(Payload):
    paper_id: Identifier


class ExtractPdf(PaperJob):
    pass


class AnalyzeContent(PaperJob):
    top_keywords: int = Field(default=10, ge=1, le=100)


class GenerateEmbeddings(PaperJob):
    method: Literal["hashing", "lsa"] = "hashing"
    dims: int = Field(default=256, ge=8, le=4096)


class ExtractParameters(PaperJob):
    pass


STEP_OPTIONS: dict[str, Any] = {
    "attempts": 3,
    "backoff": {"type": "exponential", "delay_ms": 2000},
    "timeout_ms": 300_000,
}


def _paper(task: Task[Any]) -> Row:
    paper = task.store.get("papers", task.payload.paper_id)
    if paper is None:
        raise UnrecoverableError(f"no paper {task.payload.paper_id!r} in the store")
    return paper


def _extract(task: Task[Any], paper: Row) -> Row:
    """Read the PDF and store its text; the updated paper row."""
    path = Path(paper["file_path"] or "")

    def on_page(number: int, total: int) -> None:
        task.check_cancelled()
        task.progress(80 * number / total, f"page {number} of {total}")

    try:
        content = read_pdf(path, on_page)
    except Exception:
        if task.context.attempt >= task.context.options.attempts:
            task.store.update(
                "papers", paper["id"], {"status": "failed", "updated_at": time.time()}
            )
        raise
    fields = {
        "text": content.text,
        "page_count": len(content.pages),
        "metadata": content.metadata,
        "status": "extracted",
        "updated_at": time.time(),
    }
    task.store.update("papers", paper["id"], fields)
    return {**paper, **fields}


def _text(task: Task[Any]) -> tuple[Row, str]:
    """The paper and its text, extracting it first when no step has yet."""
    paper = _paper(task)
    if not paper.get("text"):
        task.log("no extracted text yet: extracting the PDF first")
        paper = _extract(task, paper)
    return paper, paper["text"]


@job_type(queue=QUEUE, name="extract_pdf", payload=ExtractPdf, options=STEP_OPTIONS)
def extract_pdf(task: Task[ExtractPdf]) -> dict[str, Any]:
    """Text and metadata (title, author, dates, pages) from the paper's PDF, with pypdf."""
    task.progress(0, "reading the PDF")
    paper = _extract(task, _paper(task))
    stats = statistics(paper["text"])
    result = {
        "paper_id": paper["id"],
        "pages": paper["page_count"],
        "characters": stats["characters"],
        "words": stats["words"],
        "title": paper["metadata"].get("title", paper.get("title")),
    }
    task.progress(100, f"{result['pages']} pages, {result['words']} words")
    return result


@job_type(queue=QUEUE, name="analyze_content", payload=AnalyzeContent, options=STEP_OPTIONS)
def analyze_content(task: Task[AnalyzeContent]) -> dict[str, Any]:
    """Sections, TF-IDF keywords against the stored papers, and text statistics."""
    paper, text = _text(task)
    task.progress(20, "sections and statistics")
    corpus = [
        row["text"]
        for row in task.store.rows("papers")
        if row.get("text") and row["id"] != paper["id"]
    ]
    analysis: dict[str, Any] = {
        "sections": find_sections(text),
        "keywords": keywords(text, corpus, task.payload.top_keywords),
        "statistics": statistics(text),
        "corpus_size": len(corpus) + 1,
    }
    task.progress(80, "keywords")
    task.store.update(
        "papers",
        paper["id"],
        {"analysis": analysis, "status": "analyzed", "updated_at": time.time()},
    )
    paper = {**paper, "analysis": analysis}
    result = {
        "paper_id": paper["id"],
        "sections": [section["name"] for section in analysis["sections"]],
        "keywords": [item["term"] for item in analysis["keywords"]],
        **{key: analysis["statistics"][key] for key in ("words", "sentences", "unique_words")},
    }
    return result


@job_type(queue=QUEUE, name="generate_embeddings", payload=GenerateEmbeddings, options=STEP_OPTIONS)
def generate_embeddings(task: Task[GenerateEmbeddings]) -> dict[str, Any]:
    """A unit vector of the paper for similarity search (hashing or LSA, computed locally)."""
    paper, text = _text(task)
    payload = task.payload
    if payload.method == "hashing":
        vector, dims = hashing_vectors([text], payload.dims)[0], payload.dims
    else:
        corpus = [row["text"] for row in task.store.rows("papers") if row.get("text")]
        vectors, dims = lsa_vectors([text], corpus, payload.dims)
        vector = vectors[0]
    task.store.upsert(
        "embeddings",
        {
            "paper_id": paper["id"],
            "method": payload.method,
            "dims": dims,
            "vector": to_blob(vector),
            "created_at": time.time(),
        },
    )
    others = {
        row["paper_id"]: from_blob(row["vector"])
        for row in task.store.rows("embeddings", {"method": payload.method})
        if row["paper_id"] != paper["id"]
    }
    return {
        "paper_id": paper["id"],
        "method": payload.method,
        "dims": dims,
        "nearest": rank(vector, others, top=3),
    }


@job_type(queue=QUEUE, name="extract_parameters", payload=ExtractParameters, options=STEP_OPTIONS)
def extract_parameters(task: Task[ExtractParameters]) -> dict[str, Any]:
    """Power and current density, voltage, coulombic efficiency, COD removal and electrode
    materials, with values and units, from the paper's text."""
    paper, text = _text(task)
    found = find_parameters(text)
    now = time.time()
    rows = [
        {**parameter.as_row(), "paper_id": paper["id"], "created_at": now} for parameter in found
    ]
    task.store.replace("parameters", {"paper_id": paper["id"]}, rows)
    summary = summarise(found)
    return {"paper_id": paper["id"], "parameters": len(found), "summary": summary}


def search_papers(store: Store, query: str, top: int = 5) -> list[dict[str, Any]]:
    """Papers most similar to ``query`` among those with hashing embeddings."""
    rows = store.rows("embeddings", {"method": "hashing"})
    if not rows:
        return []
    dims = int(rows[0]["dims"])
    vector = hashing_vectors([query], dims)[0]
    return rank(vector, {row["paper_id"]: from_blob(row["vector"]) for row in rows}, top)
