"""Helpers of the knowledge-base tests: a tiny PDF writer, the sample shop, waiting for documents."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

SHOP = Path(__file__).resolve().parent / "data" / "shop"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_bytes(pages: list[list[str]], draw_only: bool = False) -> bytes:
    """A valid PDF 1.4 with one Helvetica text line per list item; `draw_only` pages hold a rectangle and no text."""
    objects: list[bytes] = []
    page_ids = [4 + 2 * i for i in range(len(pages))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{i} 0 R" for i in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for page_id, lines in zip(page_ids, pages):
        if draw_only:
            stream = b"0.5 g 72 500 300 200 re f"
        else:
            body = " T* ".join(f"({_escape(line)}) Tj" for line in lines)
            stream = f"BT /F1 11 Tf 14 TL 60 780 Td {body} ET".encode("cp1252")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> "
                       f"/Contents {page_id + 1} 0 R >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def wrap_paragraphs(paragraphs: list[str], width: int = 90, lines_per_page: int = 50) -> list[list[str]]:
    """Paragraphs as wrapped lines split into pages (a blank line between paragraphs)."""
    lines: list[str] = []
    for paragraph in paragraphs:
        lines.extend(textwrap.wrap(paragraph, width) or [""])
        lines.append("")
    return [lines[i:i + lines_per_page] for i in range(0, len(lines), lines_per_page)]


def shop_files() -> list[Path]:
    """The sample shop's documents."""
    return [SHOP / "products.csv", SHOP / "faq.md", SHOP / "policy.pdf"]


def shop_questions() -> list[dict]:
    """~30 questions, each labelled with the document that answers it."""
    return json.loads((SHOP / "questions.json").read_text(encoding="utf-8"))
