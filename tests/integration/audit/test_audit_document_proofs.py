"""Anyone verifies an issued document against the running audit service: a PDF signed with
the test PKI and announced as issued on the real broker is accepted with an inclusion proof
up to a signed checkpoint, by the endpoint and by the offline command; a copy changed by
one byte is refused by both. Auditors list a dossier's document reads."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from reportlab.pdfgen import canvas

from audit.cli import main as audit_cli
from audit.domain.checkpoint import Checkpoint, load_public_key
from audit.domain.documents import check_issue_proof
from chassis.events import DossierDocumentRead, DossierResultIssued, Envelope, make_event
from chassis.kafka import EventPublisher
from deploy.launcher.pki import TestPki, sign_pdf
from tests.integration.audit.conftest import (
    AuditService,
    new_dossier_id,
    wait_for_checkpoint,
    wait_for_entries,
)

pytestmark = pytest.mark.integration

VERIFY = "/v1/documents/verify"
PDF = {"Content-Type": "application/pdf"}


def decision_pdf(dossier_id: str) -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 760, f"Quyet dinh cap giay phep moi truong - ho so {dossier_id}")
    page.save()
    return buffer.getvalue()


def one_byte_changed(data: bytes) -> bytes:
    """The copy with one byte of the page's content changed (inside what was signed)."""
    at = data.index(b"stream\n") + len(b"stream\n") + 3
    changed = bytearray(data)
    changed[at] ^= 0x01
    return bytes(changed)


def issued(dossier_id: str, document: bytes) -> Envelope:
    return make_event(
        DossierResultIssued(
            dossier_id=dossier_id,
            receipt_code=dossier_id[:8].upper(),
            document_id=f"doc-{dossier_id[:8]}",
            sha256=hashlib.sha256(document).hexdigest(),
            size=len(document),
            decision_number="123/QĐ-STNMT",
            issued_at=datetime.now(UTC),
        ),
        source="/hoso/intake",
        actor="system:intake",
        subject=dossier_id,
    )


def read_by(dossier_id: str, officer: str, document: bytes) -> Envelope:
    return make_event(
        DossierDocumentRead(
            dossier_id=dossier_id,
            receipt_code=dossier_id[:8].upper(),
            document_id=f"doc-{dossier_id[:8]}",
            sha256=hashlib.sha256(document).hexdigest(),
            read_at=datetime.now(UTC),
        ),
        source="/hoso/intake",
        actor=officer,
        subject=dossier_id,
    )


@pytest.fixture(scope="module")
async def issued_document(
    audit: AuditService,
    publisher: EventPublisher,
    http: httpx.AsyncClient,
    document_pki: TestPki,
) -> dict[str, Any]:
    """A signed decision, its issue recorded and checkpointed, and two officers' reads."""
    dossier = new_dossier_id()
    # pyHanko signs through asyncio.run: not on this test's loop.
    document = await asyncio.to_thread(sign_pdf, document_pki, decision_pdf(dossier))
    events = [
        read_by(dossier, "officer:cb-07", b"%PDF- an uploaded application form"),
        issued(dossier, document),
        read_by(dossier, "officer:cb-09", document),
    ]
    # One topic, one key: recorded in this order.
    await publisher.publish_many(events, keys=[dossier] * len(events))
    entries = await wait_for_entries(http, audit, dossier, len(events))
    await wait_for_checkpoint(http, audit, max(e["seq"] for e in entries))
    return {"dossier": dossier, "document": document, "entries": entries}


async def test_the_original_is_valid_issued_and_proved(
    audit: AuditService, http: httpx.AsyncClient, issued_document: dict[str, Any]
) -> None:
    document: bytes = issued_document["document"]
    response = await http.post(f"{audit.url}{VERIFY}", content=document, headers=PDF)
    assert response.status_code == 200, response.text
    verdict = response.json()
    assert verdict["sha256"] == hashlib.sha256(document).hexdigest()
    assert verdict["size"] == len(document)
    assert verdict["signature"]["valid"] is True
    assert verdict["signature"]["trusted"] is True, verdict["signature"]
    assert "So Tai nguyen va Moi truong" in verdict["signature"]["signer"]
    assert verdict["issued"] is True
    assert verdict["proof_status"] == "proven"
    issue = next(
        e for e in issued_document["entries"] if e["event_type"] == "dossier.result-issued.v1"
    )
    assert verdict["entry"] == {
        "seq": issue["seq"],
        "type": "dossier.result-issued.v1",
        "time": issue["occurred_at"],
        "receipt_code": issued_document["dossier"][:8].upper(),
        "decision_number": "123/QĐ-STNMT",
    }
    # The proof holds with the published key alone, checked here as a citizen would.
    key = load_public_key(
        (await http.get(f"{audit.url}/v1/audit/public-key")).json()["public_key_base64"]
    )
    proof = verdict["inclusion_proof"]
    checkpoint = Checkpoint.model_validate(proof["checkpoint"])
    assert verdict["checkpoint"] == proof["checkpoint"]
    check = check_issue_proof(
        sha256=verdict["sha256"],
        entry=proof["entry"],
        leaf_index=proof["leaf_index"],
        tree_size=proof["tree_size"],
        path=proof["path"],
        checkpoint=checkpoint,
        public_key=key,
    )
    assert check.ok, check.failure
    assert checkpoint.tree_size >= issue["seq"]


async def test_a_copy_changed_by_one_byte_is_neither_valid_nor_issued(
    audit: AuditService, http: httpx.AsyncClient, issued_document: dict[str, Any]
) -> None:
    altered = one_byte_changed(issued_document["document"])
    response = await http.post(f"{audit.url}{VERIFY}", content=altered, headers=PDF)
    assert response.status_code == 200, response.text
    verdict = response.json()
    assert verdict["sha256"] == hashlib.sha256(altered).hexdigest()
    assert verdict["signature"]["valid"] is False
    assert verdict["signature"]["trusted"] is False
    assert verdict["signature"]["problem"] == "the document was changed after it was signed"
    assert verdict["issued"] is False
    assert verdict["proof_status"] == "not_issued"
    assert verdict["entry"] is None
    assert verdict["inclusion_proof"] is None


async def test_what_is_not_a_pdf_is_refused(audit: AuditService, http: httpx.AsyncClient) -> None:
    response = await http.post(f"{audit.url}{VERIFY}", content=b"hello, not a pdf", headers=PDF)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/not-a-pdf")
    wrong_type = await http.post(f"{audit.url}{VERIFY}", json={"pdf": "…"})
    assert wrong_type.status_code == 422
    assert wrong_type.json()["errors"][0]["pointer"] == "header:/Content-Type"


async def test_a_body_over_the_limit_is_refused_while_it_streams(
    audit: AuditService, http: httpx.AsyncClient
) -> None:
    async def endless() -> AsyncIterator[bytes]:
        # Chunked, no Content-Length: only counting the bytes as they come can stop it.
        yield b"%PDF-1.7\n"
        for _ in range(27):
            yield b"0" * (1024 * 1024)

    response = await http.post(f"{audit.url}{VERIFY}", content=endless(), headers=PDF)
    assert response.status_code == 413
    assert response.json()["type"].endswith("/body-too-large")


async def test_the_offline_command_accepts_the_original_and_refuses_the_altered_copy(
    audit: AuditService,
    http: httpx.AsyncClient,
    issued_document: dict[str, Any],
    document_pki: TestPki,
    tmp_path: Path,
) -> None:
    key = tmp_path / "audit.pub.pem"
    key.write_text((await http.get(f"{audit.url}/v1/audit/public-key.pem")).text)
    original = tmp_path / "giay-phep.pdf"
    original.write_bytes(issued_document["document"])
    altered = tmp_path / "giay-phep-da-sua.pdf"
    altered.write_bytes(one_byte_changed(issued_document["document"]))

    def run(path: Path) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        status = audit_cli(
            [
                "verify-document",
                str(path),
                "--url",
                audit.url,
                "--trust-roots",
                str(document_pki.ca_pem),
                "--public-key",
                str(key),
            ],
            out,
            err,
        )
        return status, out.getvalue() + err.getvalue()

    status, text = await asyncio.to_thread(run, original)
    assert status == 0, text
    assert "VALID AND ISSUED" in text
    status, text = await asyncio.to_thread(run, altered)
    assert status == 1, text
    assert "NOT VERIFIED" in text
    assert "NO: the audit log records no issue" in text


async def test_auditors_list_a_dossiers_document_reads(
    audit: AuditService, http: httpx.AsyncClient, issued_document: dict[str, Any]
) -> None:
    response = await http.get(
        f"{audit.url}/v1/audit/entries",
        params={"dossier_id": issued_document["dossier"], "event_type": "dossier.document-read.v1"},
        headers=audit.auditor(),
    )
    assert response.status_code == 200, response.text
    reads = response.json()["entries"]
    assert [r["actor"] for r in reads] == ["officer:cb-07", "officer:cb-09"]
    assert all(r["event_type"] == "dossier.document-read.v1" for r in reads)
    assert reads[1]["payload"]["sha256"] == hashlib.sha256(issued_document["document"]).hexdigest()
    assert reads[1]["payload"]["document_id"] == f"doc-{issued_document['dossier'][:8]}"
    # Nobody else's reads, and no other event of the dossier.
    anonymous = await http.get(
        f"{audit.url}/v1/audit/entries",
        params={"dossier_id": issued_document["dossier"], "event_type": "dossier.document-read.v1"},
    )
    assert anonymous.status_code == 401
