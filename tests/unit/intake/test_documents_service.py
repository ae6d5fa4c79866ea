"""Intake's document use cases against in-memory fakes: uploads stored once and refusals
leaving nothing, a submission naming uploaded documents, reads by officers (published
for the audit log first) and by the citizen, and the result document issued once per
approved dossier."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from chassis.auth import Principal
from chassis.events import DossierResultIssued, DossierStatusChanged, Recipient
from chassis.problems import Problem
from intake.api.models import SubmissionIn
from intake.domain.results import ResultText, result_event_id
from intake.service import ConcealedNotFound, SecondFactor
from intake.service.documents import Documents
from intake.service.results import ResultIssuer, ResultsNotConfigured
from intake.settings import IntakeSettings
from tests.integration.intake.intake_bodies import waste_registration
from tests.support.documents import PDF, attachment_for, sample_pdf
from tests.unit.intake.fakes import FakeDocuments, FakeResults
from tests.unit.intake.test_intake_service import CATALOGUE, PORTAL, World, make_world

OFFICER = Principal("officer-9", frozenset({"officer"}), agency="STNMT-MT")
ELSEWHERE = Principal("officer-8", frozenset({"officer"}), agency="STNMT-DD")


async def chunks(content: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for at in range(0, len(content), size):
        yield content[at : at + size]


def files_of(world: World) -> FakeDocuments:
    documents: FakeDocuments = world.submissions._documents._documents  # type: ignore[attr-defined]
    return documents


def documents_of(world: World) -> Documents:
    service: Documents = world.submissions._documents  # type: ignore[attr-defined]
    return service


async def upload(world: World, content: bytes, media_type: str = PDF) -> Any:
    return await documents_of(world).upload(
        chunks(content), name="don.pdf", media_type=media_type, principal=PORTAL
    )


def nothing_left(files: FakeDocuments, before: set[str]) -> bool:
    return set(files.files) == before and not files.markers and set(files.chunks) <= before


async def test_an_upload_is_stored_once_under_its_hash() -> None:
    world = make_world()
    content = sample_pdf("own") + b"%" + bytes(20_000) + b"\n"
    first = await upload(world, content)
    again = await upload(world, content)
    assert first.sha256 == hashlib.sha256(content).hexdigest()
    assert (first.size, first.deduplicated) == (len(content), False)
    assert again.document_id == first.document_id
    assert again.deduplicated
    files = files_of(world)
    assert files.files[first.document_id] == content
    assert sum(r["sha256"] == first.sha256 for r in files.records.values()) == 1
    assert not files.markers


@pytest.mark.parametrize(
    ("content", "media_type", "status", "risks"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(100), PDF, 422, []),
        (b"", PDF, 422, []),
        (sample_pdf("x"), "application/x-msdownload", 422, []),
        (
            sample_pdf(
                "x", catalog_extra=b"/OpenAction 6 0 R ", extra=[b"<< /S /JavaScript /JS (1) >>"]
            ),
            PDF,
            422,
            ["javascript"],
        ),
        (sample_pdf("x") + b"%" + bytes(30 * 1024 * 1024), PDF, 413, None),
    ],
)
async def test_a_refused_upload_leaves_nothing_stored(
    content: bytes, media_type: str, status: int, risks: list[str] | None
) -> None:
    world = make_world()
    files = files_of(world)
    before = set(files.files)
    with pytest.raises(Problem) as refused:
        await upload(world, content, media_type)
    assert refused.value.status == status
    if risks is not None:
        assert refused.value.extensions["risks"] == risks
    assert nothing_left(files, before)


async def test_an_upload_the_store_fails_midway_leaves_nothing() -> None:
    world = make_world()
    files = files_of(world)
    before = set(files.files)
    files.failing.add("record")
    with pytest.raises(Problem) as refused:
        await upload(world, sample_pdf("store away"))
    assert refused.value.status == 503
    assert nothing_left(files, before)


async def test_a_submission_names_uploaded_documents_by_hash_size_and_type() -> None:
    world = make_world()
    ghost = attachment_for("application_form", sample_pdf("never uploaded"))
    wrong_type = attachment_for("business_registration") | {"media_type": "image/png"}
    body = SubmissionIn.model_validate(waste_registration(attachments=[ghost, wrong_type]))
    with pytest.raises(Problem) as refused:
        await world.submissions.submit(body, PORTAL, None)
    assert refused.value.errors is not None
    assert [e["pointer"] for e in refused.value.errors] == [
        "/attachments/0/sha256",
        "/attachments/1/media_type",
    ]
    assert world.publisher.published == []

    receipt = await world.submissions.submit(
        SubmissionIn.model_validate(waste_registration()), PORTAL, None
    )
    dossier_id = receipt.body.dossier_id
    data = world.publisher.published[-1][0].data
    ids = [a["document_id"] for a in data["attachments"]]
    assert ids == ["sample-application_form", "sample-business_registration"]
    files = files_of(world)
    assert {(dossier_id, i) for i in ids} <= files.links
    assert all(files.records[i]["referenced"] for i in ids)


async def _submitted(world: World) -> tuple[str, str, str]:
    receipt = await world.submissions.submit(
        SubmissionIn.model_validate(waste_registration()), PORTAL, None
    )
    return receipt.body.receipt_code, receipt.body.follow_up_secret, receipt.body.dossier_id


async def _read(chunks_of: AsyncIterator[bytes] | None) -> bytes:
    assert chunks_of is not None
    return b"".join([c async for c in chunks_of])


async def test_an_officer_read_is_published_before_a_byte_and_others_are_concealed() -> None:
    world = make_world()
    code, secret, dossier_id = await _submitted(world)
    documents = documents_of(world)
    document_id = "sample-application_form"
    sent = len(world.publisher.published)

    whole = await documents.for_officer(code, document_id, OFFICER, None, None)
    assert await _read(whole.chunks) == files_of(world).files[document_id]
    # The code as typed: case and dashes as on the receipt or not.
    part = await documents.for_officer(
        code.lower().replace("-", ""), document_id, OFFICER, "bytes=0-9", None
    )
    assert await _read(part.chunks) == files_of(world).files[document_id][:10]
    reads = [e for e, _ in world.publisher.published[sent:]]
    assert [e.type for e in reads] == ["dossier.document-read.v1"] * 2
    assert [e.data["range"] for e in reads] == [None, "bytes=0-9"]
    assert {e.actor for e in reads} == {"officer:officer-9"}
    assert reads[0].data["dossier_id"] == dossier_id

    # The reader's copy is current: no bytes, no read.
    current = await documents.for_officer(
        code, document_id, OFFICER, None, f'"{whole.document["sha256"]}"'
    )
    assert current.not_modified
    assert len(world.publisher.published) == sent + 2

    for outsider in (ELSEWHERE, PORTAL):
        with pytest.raises(ConcealedNotFound):
            await documents.for_officer(code, document_id, outsider, None, None)
    with pytest.raises(ConcealedNotFound):
        await documents.for_officer(code, "sample-eia_report", OFFICER, None, None)

    citizen = await documents.for_citizen(code, document_id, SecondFactor(secret), None, None)
    assert await _read(citizen.chunks) == files_of(world).files[document_id]
    with pytest.raises(ConcealedNotFound):
        await documents.for_citizen(code, document_id, SecondFactor("AAAAA-BBBBB"), None, None)
    assert len(world.publisher.published) == sent + 2


async def test_no_officer_read_without_its_audit_event() -> None:
    world = make_world()
    code, _, _ = await _submitted(world)
    world.publisher.down = True
    with pytest.raises(Problem) as refused:
        await documents_of(world).for_officer(code, "sample-application_form", OFFICER, None, None)
    assert refused.value.status == 503


async def test_a_range_beyond_the_end_is_refused_with_the_size() -> None:
    world = make_world()
    code, _, _ = await _submitted(world)
    size = len(files_of(world).files["sample-application_form"])
    with pytest.raises(Problem) as refused:
        await documents_of(world).for_officer(
            code, "sample-application_form", OFFICER, f"bytes={size}-", None
        )
    assert refused.value.status == 416
    assert refused.value.headers == {"Content-Range": f"bytes */{size}"}


# --------------------------------------------------------------------------- results


def approval(dossier_id: str, status: str = "approved") -> DossierStatusChanged:
    return DossierStatusChanged(
        dossier_id=dossier_id,
        receipt_code="MT-261126-AAAAAA",
        procedure_code="MT-004",
        procedure_name_vi="Đăng ký chủ nguồn thải chất thải nguy hại",
        procedure_name_en="Registration as a hazardous waste source owner",
        agency="STNMT-MT",
        agency_name_vi="Chi cục Bảo vệ môi trường",
        agency_name_en="Environmental Protection Sub-Department",
        old_status="in_review",
        new_status=status,
        action="approve",
        result_reference="12/GP-STNMT",
        occurred_at=datetime(2026, 11, 27, 3, tzinfo=UTC),
        version=4,
        recipient=Recipient(display_name="Công ty TNHH Giấy Hòa Bình"),
    )


class Issuing:
    def __init__(self, *, signs: bool = True) -> None:
        self.results = FakeResults(FakeDocuments())
        self.signed: list[ResultText] = []
        self.announced: list[tuple[DossierResultIssued, str, str]] = []
        self.issuer = ResultIssuer(
            results=self.results,
            catalogue=CATALOGUE,
            sign=self.sign if signs else None,
            announce=self.announce,
            clock=lambda: datetime(2026, 11, 27, 3, 5, tzinfo=UTC),
        )

    def sign(self, text: ResultText) -> bytes:
        self.signed.append(text)
        return f"%PDF-1.7 {text.title} {text.decision_number} {len(self.signed)}".encode()

    async def announce(self, event: DossierResultIssued, event_id: str, key: str) -> None:
        self.announced.append((event, event_id, key))


async def test_an_approval_issues_one_result_and_a_redelivery_announces_the_same() -> None:
    issuing = Issuing()
    assert await issuing.issuer.on_status_changed(approval("d-1"))
    assert not await issuing.issuer.on_status_changed(approval("d-1"))
    assert len(issuing.signed) == 1
    text = issuing.signed[0]
    assert (text.language, text.decision_number) == ("vi", "12/GP-STNMT")
    assert "Công ty TNHH Giấy Hòa Bình" in text.body
    (first, first_id, key), (second, second_id, _) = issuing.announced
    assert first == second
    assert first_id == second_id == result_event_id("d-1")
    assert key == "d-1"
    stored = issuing.results.results["d-1"]
    assert first.sha256 == stored["sha256"]
    assert first.document_id == stored["document_id"]
    assert ("d-1", stored["document_id"]) in issuing.results.documents.links


async def test_other_status_changes_issue_nothing() -> None:
    issuing = Issuing()
    for status in ("in_review", "rejected", "result_returned"):
        assert not await issuing.issuer.on_status_changed(approval("d-2", status))
    assert issuing.signed == []
    assert issuing.announced == []


async def test_without_a_signing_key_the_approval_is_refused_for_the_dead_letters() -> None:
    issuing = Issuing(signs=False)
    with pytest.raises(ResultsNotConfigured):
        await issuing.issuer.on_status_changed(approval("d-3"))
    assert issuing.results.results == {}
    assert issuing.announced == []


def test_settings_name_the_signing_key() -> None:
    settings = IntakeSettings(signing_pkcs12="/run/secrets/agency.p12")
    assert settings.signing_pkcs12 == "/run/secrets/agency.p12"
    assert settings.signing_pkcs12_password is None
