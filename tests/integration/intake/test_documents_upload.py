"""Documents on the real service and store: a real PDF uploaded, stored once in GridFS,
named by a submission, read by an officer (the read published for the audit log) and by
the citizen, a range served; and every refused upload leaving nothing stored."""

from __future__ import annotations

import hashlib
import itertools
import json
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from pymongo import AsyncMongoClient

from chassis.events import EventType, Topics
from chassis.mongo import StoreClient
from tests.integration.intake.intake_bodies import waste_registration
from tests.integration.intake.intake_support import Intake, events_of, read_topic
from tests.support.documents import PDF, attachment_for, sample_pdf

pytestmark = pytest.mark.integration

AGENCY = "STNMT-MT"  # MT-004's agency
_ADDRESSES = itertools.count(secrets.randbelow(1 << 15))


def from_ip() -> dict[str, str]:
    n = next(_ADDRESSES)
    return {"X-Forwarded-For": f"198.19.{n // 250 % 250}.{n % 250 + 1}"}


def a_pdf(size: int = 300_000) -> bytes:
    """A PDF of its own, padded with a comment after its end to ``size`` bytes."""
    body = sample_pdf(f"own document {secrets.token_hex(8)}")
    return body + b"%" + secrets.token_hex(size).encode()[: max(size - len(body) - 2, 0)] + b"\n"


async def upload(
    client: httpx.AsyncClient,
    intake: Intake,
    content: bytes | AsyncIterator[bytes],
    media_type: str = PDF,
    name: str = "đơn đăng ký.pdf",
) -> httpx.Response:
    return await client.post(
        "/v1/documents",
        params={"name": name},
        content=content,
        headers=intake.portal() | {"Content-Type": media_type},
    )


async def stored(intake: Intake) -> dict[str, int]:
    """How many files, chunks, records and upload markers the store holds."""
    client: StoreClient = AsyncMongoClient(intake.mongodb)
    try:
        db = client[intake.database]
        return {
            name: await db[name].count_documents({})
            for name in ("documents.files", "documents.chunks", "documents", "document_uploads")
        }
    finally:
        await client.close()


async def test_a_pdf_is_stored_once_named_by_a_submission_and_read_by_officer_and_citizen(
    intake_service: Intake,
) -> None:
    content = a_pdf()
    digest = hashlib.sha256(content).hexdigest()
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=30) as client:
        first = await upload(client, intake_service, content)
        assert first.status_code == 201, first.text
        document = first.json()
        assert document["sha256"] == digest
        assert document["size"] == len(content)
        again = await upload(client, intake_service, content, name="copy.pdf")
        assert again.status_code == 200
        assert again.json() == document

        attachment = attachment_for("application_form", content)
        body = waste_registration(attachments=[attachment, attachment_for("business_registration")])
        receipt = await client.post("/v1/dossiers", json=body, headers=intake_service.portal())
        assert receipt.status_code == 202, receipt.text
        code = receipt.json()["receipt_code"]
        dossier_id = receipt.json()["dossier_id"]
        url = f"/v1/dossiers/{code}/documents/{document['document_id']}"
        officers_url = url.replace("/v1/", "/v1/officer/", 1)

        officer = intake_service.officer(AGENCY)
        whole = await client.get(officers_url, headers=officer)
        assert whole.status_code == 200
        assert whole.content == content
        assert whole.headers["content-type"] == PDF
        assert whole.headers["etag"] == f'"{digest}"'
        assert whole.headers["content-disposition"].startswith("attachment;")
        assert (
            "filename*=UTF-8''%C4%91%C6%A1n%20%C4%91%C4%83ng%20k%C3%BD.pdf"
            in (whole.headers["content-disposition"])
        )

        part = await client.get(officers_url, headers=officer | {"Range": "bytes=100-1099"})
        assert part.status_code == 206
        assert part.content == content[100:1100]
        assert part.headers["content-range"] == f"bytes 100-1099/{len(content)}"
        tail = await client.get(officers_url, headers=officer | {"Range": "bytes=-10"})
        assert tail.status_code == 206
        assert tail.content == content[-10:]
        beyond = await client.get(
            officers_url, headers=officer | {"Range": f"bytes={len(content)}-"}
        )
        assert beyond.status_code == 416
        assert beyond.headers["content-range"] == f"bytes */{len(content)}"
        current = await client.get(officers_url, headers=officer | {"If-None-Match": f'"{digest}"'})
        assert current.status_code == 304
        assert current.content == b""

        secret = receipt.json()["follow_up_secret"]
        citizen = await client.get(url, headers=from_ip() | {"X-Follow-Up-Secret": secret})
        assert citizen.status_code == 200
        assert citizen.content == content

        # Everyone else: the very answer an unknown dossier gets.
        unknown = await client.get(
            f"/v1/dossiers/MT-261126-AAAAAA/documents/{document['document_id']}",
            headers=from_ip() | {"X-Follow-Up-Secret": secret},
        )
        # Another unit's officer, and an unknown code at the officers' door: the same.
        elsewhere = await client.get(officers_url, headers=intake_service.officer("STNMT-DD"))
        unknown_to_officer = await client.get(
            f"/v1/officer/dossiers/MT-261126-AAAAAA/documents/{document['document_id']}",
            headers=officer,
        )
        assert elsewhere.status_code == unknown_to_officer.status_code == 404
        assert elsewhere.json() == unknown_to_officer.json()
        refused = [
            # A token does not open the citizen's door without the second factor.
            await client.get(
                url, headers=from_ip() | {"X-Follow-Up-Secret": "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE"}
            ),
            await client.get(
                url, headers=from_ip() | {"X-Follow-Up-Secret": "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE"}
            ),
            # A document stored for another dossier is not this one's.
            await client.get(
                f"/v1/dossiers/{code}/documents/{'0' * 24}",
                headers=from_ip() | {"X-Follow-Up-Secret": secret},
            ),
        ]
        assert unknown.status_code == 404
        for answer in refused:
            assert answer.status_code == 404
            assert answer.json() == unknown.json()

    # Each officer read that sent bytes is published for the audit log; a citizen's and
    # a 304 are not officer reads of the bytes.
    records = await read_topic(intake_service.kafka, intake_service.topic(Topics.SUBMISSIONS))
    reads = [
        e for e in events_of(records, EventType.DOCUMENT_READ.value) if e["subject"] == dossier_id
    ]
    assert [r["data"]["range"] for r in reads] == [
        None,
        "bytes=100-1099",
        f"bytes={len(content) - 10}-{len(content) - 1}",
    ]
    assert {r["actor"].split(":")[0] for r in reads} == {"officer"}
    assert {r["data"]["sha256"] for r in reads} == {digest}
    submitted = [
        e for e in events_of(records, EventType.SUBMITTED.value) if e["subject"] == dossier_id
    ]
    assert submitted[0]["data"]["attachments"][0]["document_id"] == document["document_id"]
    counts = await stored(intake_service)
    assert counts["document_uploads"] == 0


async def _chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    head = sample_pdf("too large")
    yield head
    sent = len(head)
    while sent < total:
        piece = b"%" + b"0" * (min(size, total - sent) - 1)
        sent += len(piece)
        yield piece


async def test_refused_uploads_leave_nothing_stored(intake_service: Intake) -> None:
    risky = {
        "javascript": sample_pdf(
            "js",
            catalog_extra=b"/OpenAction 6 0 R ",
            extra=[b"<< /S /JavaScript /JS (app.alert\\(1\\)) >>"],
        ),
        "launch-action": sample_pdf(
            "launch",
            catalog_extra=b"/OpenAction 6 0 R ",
            extra=[b"<< /S /Launch /F (cmd.exe) >>"],
        ),
        "embedded-file": sample_pdf(
            "embedded",
            catalog_extra=b"/Names << /EmbeddedFiles << /Names [(a.exe) 6 0 R] >> >> ",
            extra=[b"<< /Type /Filespec /F (a.exe) /EF << /F 7 0 R >> >>", b"<< /Length 0 >>"],
        ),
    }
    before = await stored(intake_service)
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=60) as client:
        png = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(2000)
        not_a_pdf = await upload(client, intake_service, png)
        assert not_a_pdf.status_code == 422
        assert not_a_pdf.json()["type"].endswith("/document-refused")
        assert "image/png" in not_a_pdf.json()["detail"]

        for risk, content in risky.items():
            answer = await upload(client, intake_service, content)
            assert answer.status_code == 422, (risk, answer.text)
            assert answer.json()["risks"] == [risk]

        exe = await upload(client, intake_service, b"MZ" + bytes(500), "application/x-msdownload")
        assert exe.status_code == 422

        too_large = await upload(client, intake_service, _chunks(1024 * 1024 + 200_000))
        assert too_large.status_code == 413
        assert too_large.json()["type"].endswith("/document-too-large")

        # A declared hash that no upload has, and one whose size differs: refused.
        ghost = attachment_for("application_form", a_pdf(2000))
        wrong_size = attachment_for("business_registration") | {"size": 999}
        body = waste_registration(attachments=[ghost, wrong_size])
        refused = await client.post("/v1/dossiers", json=body, headers=intake_service.portal())
        assert refused.status_code == 422
        pointers = [e["pointer"] for e in refused.json()["errors"]]
        assert pointers == ["/attachments/0/sha256", "/attachments/1/size"]
    assert await stored(intake_service) == before


async def test_the_upload_answers_what_is_stored_under_its_hash(intake_service: Intake) -> None:
    """The record is the store's: sha256 and size as GridFS holds them."""
    content = a_pdf(5000)
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=30) as client:
        answer = (await upload(client, intake_service, content)).json()
    client_db: StoreClient = AsyncMongoClient(intake_service.mongodb)
    try:
        db = client_db[intake_service.database]
        record = await db["documents"].find_one({"sha256": hashlib.sha256(content).hexdigest()})
        assert record is not None
        assert record["_id"] == answer["document_id"]
        from bson import ObjectId

        files = await db["documents.files"].find_one({"_id": ObjectId(answer["document_id"])})
        assert files is not None
        assert files["length"] == len(content)
    finally:
        await client_db.close()
    assert json.dumps(answer)
