"""A minimal writer of text-only PDF files (Helvetica, A4), for the sample papers.

Enough of PDF 1.4 to produce small, valid documents that any reader, and
pypdf, opens: a catalog, a page tree, one content stream per page, the
standard Helvetica font with WinAnsi encoding, and an Info dictionary with
title, author and creation date.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

PAGE_WIDTH, PAGE_HEIGHT = 595, 842
MARGIN = 56
FONT_SIZE = 10
HEADING_SIZE = 12
TITLE_SIZE = 15
LEADING = 14
WRAP_CHARS = 92
"""Characters per line that fit the text width at 10 pt Helvetica (average glyph ~0.5 em)."""


def _pdf_string(text: str) -> bytes:
    encoded = text.encode("cp1252", errors="replace")
    escaped = encoded.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    return b"(" + escaped + b")"


def _layout(title: str, authors: str, blocks: list[tuple[str, str]]) -> list[list[tuple[int, str]]]:
    """Lines (font size, text) split into pages."""
    lines: list[tuple[int, str]] = []
    for part in textwrap.wrap(title, 70):
        lines.append((TITLE_SIZE, part))
    lines.append((FONT_SIZE, authors))
    lines.append((FONT_SIZE, ""))
    for heading, body in blocks:
        if heading:
            lines.append((HEADING_SIZE, heading))
        for paragraph in body.split("\n\n"):
            lines.extend((FONT_SIZE, line) for line in textwrap.wrap(paragraph.strip(), WRAP_CHARS))
            lines.append((FONT_SIZE, ""))
    per_page = (PAGE_HEIGHT - 2 * MARGIN) // LEADING
    return [lines[i : i + per_page] for i in range(0, len(lines), per_page)] or [[]]


def write_text_pdf(
    path: Path,
    title: str,
    authors: str,
    blocks: list[tuple[str, str]],
    created: float | None = None,
) -> Path:
    """Write ``blocks`` (heading, paragraphs separated by blank lines) as a PDF at ``path``."""
    pages = _layout(title, authors, blocks)
    objects: list[bytes] = []  # object n is objects[n - 1]

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in once the page tree's number is known
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    bold = add(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"
    )
    page_tree = add(b"")
    page_numbers = []
    for lines in pages:
        commands = [b"BT", f"{LEADING} TL".encode(), f"{MARGIN} {PAGE_HEIGHT - MARGIN} Td".encode()]
        for size, text in lines:
            face = b"/F2" if size > FONT_SIZE else b"/F1"
            commands.append(face + f" {size} Tf".encode())
            commands.append(_pdf_string(text) + b" Tj T*")
        commands.append(b"ET")
        stream = b"\n".join(commands)
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        page_numbers.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] "
                b"/Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> >> /Contents %d 0 R >>"
                % (page_tree, PAGE_WIDTH, PAGE_HEIGHT, font, bold, content)
            )
        )
    kids = b" ".join(b"%d 0 R" % number for number in page_numbers)
    objects[page_tree - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(page_numbers))
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % page_tree
    stamp = time.strftime("D:%Y%m%d%H%M%SZ", time.gmtime(created if created else time.time()))
    info = add(
        b"<< /Title "
        + _pdf_string(title)
        + b" /Author "
        + _pdf_string(authors)
        + b" /Producer (MESSAI sample data) /CreationDate "
        + _pdf_string(stamp)
        + b" >>"
    )

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        catalog,
        info,
        xref,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))
    return path
