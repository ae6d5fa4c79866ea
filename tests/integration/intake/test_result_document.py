"""The result document on the real service, store and broker: an approval from processing
makes intake issue one signed PDF, announced with its SHA-256, that pyHanko validates
against the test CA, whose text keeps its Vietnamese words, that a flipped byte breaks,
and that the dossier's officer and citizen download; a redelivered approval issues
nothing new."""

from __future__ import annotations

import hashlib
import io
import itertools
import secrets
from typing import Any

import httpx
import pytest
from asn1crypto import pem, x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pymongo import AsyncMongoClient
from pypdf import PdfReader

from chassis.events import EventType, Recipient, Topics
from chassis.mongo import StoreClient
from deploy.launcher.pki import TestPki
from tests.integration.intake.intake_bodies import waste_registration
from tests.integration.intake.intake_support import (
    Intake,
    events_of,
    read_topic,
    status_changed,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

_ADDRESSES = itertools.count(secrets.randbelow(1 << 15))


def trusting(pki: TestPki) -> ValidationContext:
    _, _, der = pem.unarmor(pki.ca_pem.read_bytes())
    return ValidationContext(trust_roots=[x509.Certificate.load(der)])


async def signature_of(pdf: bytes, pki: TestPki) -> Any:
    reader = PdfFileReader(io.BytesIO(pdf))
    return await async_validate_pdf_signature(reader.embedded_signatures[0], trusting(pki))


async def issued_events(intake: Intake, dossier_id: str) -> list[dict[str, Any]]:
    records = await read_topic(intake.kafka, intake.topic(Topics.SUBMISSIONS))
    return [
        e
        for e in events_of(records, EventType.RESULT_ISSUED.value)
        if e["data"]["dossier_id"] == dossier_id
    ]


async def test_an_approval_issues_one_signed_result_for_officer_and_citizen(
    intake_service: Intake, document_pki: TestPki
) -> None:
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=30) as client:
        receipt = await client.post(
            "/v1/dossiers", json=waste_registration(), headers=intake_service.portal()
        )
        assert receipt.status_code == 202, receipt.text
        code = receipt.json()["receipt_code"]
        dossier_id = receipt.json()["dossier_id"]

        approved = status_changed(
            dossier_id, code, 3, "approved", old_status="in_review"
        ).model_copy(
            update={
                "result_reference": "12/GP-STNMT",
                "recipient": Recipient(display_name="Công ty TNHH Giấy Hòa Bình"),
            }
        )
        await intake_service.publish(approved)

        async def announced() -> list[dict[str, Any]] | None:
            found = await issued_events(intake_service, dossier_id)
            return found or None

        (event,) = await eventually(announced, timeout_s=60, what="dossier.result-issued")
        issued = event["data"]
        assert event["actor"] == "system:intake"
        assert issued["decision_number"] == "12/GP-STNMT"

        url = f"/v1/dossiers/{code}/documents/{issued['document_id']}"
        officer = await client.get(
            url.replace("/v1/", "/v1/officer/", 1), headers=intake_service.officer("STNMT-MT")
        )
        assert officer.status_code == 200, officer.text
        pdf = officer.content
        assert hashlib.sha256(pdf).hexdigest() == issued["sha256"]
        assert len(pdf) == issued["size"]
        assert officer.headers["content-type"] == "application/pdf"
        n = next(_ADDRESSES)
        citizen = await client.get(
            url,
            headers={
                "X-Follow-Up-Secret": receipt.json()["follow_up_secret"],
                "X-Forwarded-For": f"198.20.{n // 250 % 250}.{n % 250 + 1}",
            },
        )
        assert citizen.status_code == 200
        assert citizen.content == pdf

        # The same approval again (a redelivery, a replayed dead letter): no new document.
        await intake_service.publish(approved)

        async def announced_twice() -> list[dict[str, Any]] | None:
            found = await issued_events(intake_service, dossier_id)
            return found if len(found) >= 2 else None

        again = await eventually(announced_twice, timeout_s=60, what="the same result again")
        assert {e["id"] for e in again} == {event["id"]}
        assert {e["data"]["sha256"] for e in again} == {issued["sha256"]}

    mongo: StoreClient = AsyncMongoClient(intake_service.mongodb)
    try:
        db = mongo[intake_service.database]
        assert await db["results"].count_documents({"_id": dossier_id}) == 1
        assert await db["documents"].count_documents({"result_of": dossier_id}) == 1
    finally:
        await mongo.close()

    status = await signature_of(pdf, document_pki)
    assert status.intact
    assert status.valid
    assert status.trusted
    assert status.bottom_line

    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    for words in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "QUYẾT ĐỊNH CHẤP THUẬN HỒ SƠ",
        "Chi cục Bảo vệ môi trường",
        "Công ty TNHH Giấy Hòa Bình",
        "Số: 12/GP-STNMT",
        code,
    ):
        assert words in text.replace("\n", " "), words

    # One flipped byte inside the signed range: the signature no longer holds.
    at = len(pdf) // 3
    tampered = pdf[:at] + bytes([pdf[at] ^ 0x01]) + pdf[at + 1 :]
    broken = await signature_of(tampered, document_pki)
    assert not broken.intact
    assert not broken.bottom_line
