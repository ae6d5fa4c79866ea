"""Real files for the tests that submit attachments: small PDFs, one per document code.

A submission's attachment names an uploaded document by its SHA-256, so every test that
submits one uploads its file first. The sample PDFs are deterministic (the same code
gives the same bytes), and intake keeps one copy per content, so uploading the samples
once per intake database (`upload_samples`) serves every submission of a session.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

import httpx

__all__ = [
    "PDF",
    "attachment_for",
    "catalogue_document_codes",
    "sample_pdf",
    "upload",
    "upload_examples",
    "upload_samples",
]

PDF = "application/pdf"


def sample_pdf(text: str, *, catalog_extra: bytes = b"", extra: Iterable[bytes] = ()) -> bytes:
    """A one-page PDF showing ``text`` (ASCII); ``catalog_extra`` goes into the document
    catalogue and ``extra`` are further objects numbered from 6 (for risky samples)."""
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode()
    content = b"BT /F1 12 Tf 72 770 Td (" + escaped + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b">>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        *extra,
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode() + b"0000000000 65535 f \n"
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    trailer = f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    out += trailer.encode()
    return bytes(out)


def attachment_for(document_code: str, content: bytes | None = None) -> dict[str, Any]:
    """The attachment naming ``content`` (by default the code's sample PDF)."""
    data = content if content is not None else sample_pdf(f"hoso sample: {document_code}")
    return {
        "document_code": document_code,
        "name": f"{document_code}.pdf",
        "media_type": PDF,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def upload(
    client: httpx.Client,
    base_url: str,
    headers: dict[str, str],
    content: bytes,
    *,
    name: str = "document.pdf",
    media_type: str = PDF,
) -> httpx.Response:
    return client.post(
        f"{base_url}/v1/documents",
        params={"name": name},
        content=content,
        headers={**headers, "Content-Type": media_type},
    )


def upload_samples(
    base_url: str, headers_for: Callable[[str], dict[str, str]], codes: Iterable[str]
) -> None:
    """Upload the sample PDF of every code (a code uploaded before is answered at once);
    ``headers_for(code)`` authenticates each upload (one client per code keeps the
    uploads clear of the per-client rate limit)."""
    with httpx.Client(timeout=30) as client:
        for code in sorted(set(codes)):
            data = sample_pdf(f"hoso sample: {code}")
            answer = upload(client, base_url, headers_for(code), data, name=f"{code}.pdf")
            answer.raise_for_status()


def catalogue_document_codes() -> list[str]:
    """Every document code the catalogue's procedures ask for."""
    from chassis.catalogue import load_default_catalogue

    catalogue = load_default_catalogue()
    return sorted(
        {d.code for p in catalogue.procedures.values() for d in p.required_documents}
        | {"application_form", "business_registration"}
    )


def upload_examples(base_url: str, headers: dict[str, str]) -> None:
    """Upload the README's example documents (docs/examples/*.pdf), which
    docs/examples/submission.json names, so that it can be submitted as it is."""
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "docs" / "examples"
    with httpx.Client(timeout=30) as client:
        for path in sorted(examples.glob("*.pdf")):
            answer = upload(client, base_url, headers, path.read_bytes(), name=path.name)
            answer.raise_for_status()
