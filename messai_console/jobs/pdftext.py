"""Text and metadata of a PDF file, with pypdf."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class PdfError(Exception):
    """The file is not a readable PDF (yet: an upload may still be arriving)."""


@dataclass
class PdfContent:
    pages: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n\n".join(self.pages)


def read_pdf(path: Path, on_page: Callable[[int, int], None] | None = None) -> PdfContent:
    """Every page's text plus the document information (title, author, dates, pages)."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        total = len(reader.pages)
        pages = []
        for number, page in enumerate(reader.pages, start=1):
            pages.append(page.extract_text() or "")
            if on_page is not None:
                on_page(number, total)
        info: dict[str, Any] = dict(reader.metadata or {})
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise PdfError(f"{path.name} is not a readable PDF: {exc}") from None
    metadata: dict[str, Any] = {"pages": total, "bytes": path.stat().st_size}
    for key, value in info.items():
        name = str(key).lstrip("/").lower()
        if name in (
            "title",
            "author",
            "subject",
            "keywords",
            "creator",
            "producer",
            "creationdate",
            "moddate",
        ):
            metadata[name] = str(value)
    return PdfContent(pages=pages, metadata=metadata)
