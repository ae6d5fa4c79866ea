"""The one-stop desk's pages in-process over fake services: the form of any unit's
procedure, files streamed to intake's upload, the submission intake gets, its field
errors beside their inputs, the receipt and the slip passed on."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest

from tests.unit.workbench.workbench_fakes import Bench, as_json, bench, problem, procedure_detail

CSRF = "csrf-token-of-the-session"
RECEIPT = {
    "dossier_id": "0b6f1c3e-8d2a-4f5e-9a71-3c2d1e0f4a5b",
    "receipt_code": "MT-261207-ABCDEF",
    "procedure_code": "MT-004",
    "received_at": "2026-12-07T02:15:00Z",
    "due_date": "2026-12-28",
    "follow_up_secret": "K7QD-4XPM-2RTA-9B3C",
    "status_url": "/v1/dossiers/MT-261207-ABCDEF/status",
}
PDF = b"%PDF-1.4\n" + b"x" * 200_000 + b"\n%%EOF\n"


@pytest.fixture
def desk() -> Bench:
    b = bench()
    detail = procedure_detail("MT-004")
    # Routes added later win: the catch-all first.
    b.intake.on("GET", "/v1/procedures/.*", lambda r: problem(404, "unknown-procedure", "no"))
    b.intake.on("GET", "/v1/procedures/MT-004", lambda r: httpx.Response(200, json=detail))
    b.intake.on(
        "GET",
        "/v1/procedures",
        lambda r: httpx.Response(200, json={"count": 1, "procedures": [detail]}),
    )
    b.sign_in("desk", agency="STNMT-VP")
    return b


def _filled(**extra: str) -> dict[str, str]:
    return {
        "csrf_token": CSRF,
        "procedure": "MT-004",
        "idempotency_key": "5f0c2a9e-7d1b-4c3a-9e8f-2b6d4a1c0e97",
        "channel": "counter",
        "applicant/type": "organisation",
        "applicant/name": "Công ty Sông Xanh",
        "applicant/id_number": "0101234567",
        "applicant/phone": "0912345678",
        "form/facility_name": "Xưởng Minh Khai",
        "form/facility_address": "Bắc Từ Liêm, Hà Nội",
        "form/waste_items/0/waste_code": "17 02 03",
        "form/waste_items/0/name": "Dầu thải",
        "form/waste_items/0/state": "liquid",
        "form/waste_items/0/quantity_kg_per_year": "200,5",
        **extra,
    }


def _stored(request: httpx.Request) -> httpx.Response:
    body = request.read()
    return httpx.Response(
        201,
        json={
            "document_id": "d" * 24,
            "sha256": hashlib.sha256(body).hexdigest(),
            "size": len(body),
            "media_type": request.headers["Content-Type"],
        },
    )


def test_the_desk_chooses_among_every_units_procedures_and_gets_its_form(desk: Bench) -> None:
    page = desk.client.get("/desk")
    assert page.status_code == 200
    assert 'value="MT-004"' in page.text
    form = desk.client.get("/desk/new", params={"procedure": "MT-004"})
    assert form.status_code == 200
    for name in ("applicant/id_number", "form/facility_name", "form/waste_items/0/state"):
        assert f'name="{name}"' in form.text
    assert 'name="document/business_registration"' in form.text
    assert 'enctype="multipart/form-data"' in form.text
    unknown = desk.client.get("/desk/new", params={"procedure": "XX-999"})
    assert unknown.status_code == 404


def test_an_officer_is_not_the_desk(desk: Bench) -> None:
    desk.sign_in("officer", agency="STNMT-MT")
    assert desk.client.get("/desk").status_code == 403


def test_keying_in_uploads_each_file_then_submits_and_shows_the_receipt(desk: Bench) -> None:
    desk.intake.on("POST", "/v1/documents", _stored)
    desk.intake.on("POST", "/v1/dossiers", lambda r: httpx.Response(202, json=RECEIPT))
    answer = desk.client.post(
        "/desk/new",
        data=_filled(),
        files=[
            ("document/application_form", ("don.pdf", PDF, "application/pdf")),
            ("document/business_registration", ("", b"", "application/octet-stream")),
        ],
    )
    assert answer.status_code == 200, answer.text
    assert "MT-261207-ABCDEF" in answer.text
    assert "K7QD-4XPM-2RTA-9B3C" in answer.text
    assert 'href="/desk/slips/MT-261207-ABCDEF"' in answer.text
    uploads = [r for r in desk.intake.seen if r.url.path == "/v1/documents"]
    assert len(uploads) == 1
    assert uploads[0].url.params["name"] == "don.pdf"
    assert uploads[0].headers["Authorization"] == "Bearer token-desk"
    # Streamed: sent chunked, not as one body of a known length.
    assert uploads[0].headers.get("Transfer-Encoding") == "chunked"
    (submitted,) = [r for r in desk.intake.seen if r.url.path == "/v1/dossiers"]
    assert submitted.headers["Idempotency-Key"] == "5f0c2a9e-7d1b-4c3a-9e8f-2b6d4a1c0e97"
    body = as_json(submitted)
    assert body["channel"] == "counter"
    assert body["applicant"] == {
        "type": "organisation",
        "name": "Công ty Sông Xanh",
        "id_number": "0101234567",
        "phone": "0912345678",
    }
    assert body["form"]["waste_items"] == [
        {
            "waste_code": "17 02 03",
            "name": "Dầu thải",
            "state": "liquid",
            "quantity_kg_per_year": 200.5,
        }
    ]
    (attachment,) = body["attachments"]
    assert attachment["document_code"] == "application_form"
    assert attachment["size"] == len(PDF)
    assert attachment["name"] == "don.pdf"


def test_intakes_field_errors_come_back_beside_their_inputs_with_the_files_kept(
    desk: Bench,
) -> None:
    desk.intake.on("POST", "/v1/documents", _stored)
    desk.intake.on(
        "POST",
        "/v1/dossiers",
        lambda r: problem(
            422,
            "submission-invalid",
            "the submission does not satisfy its procedure",
            [
                {
                    "pointer": "/applicant/id_number",
                    "detail": "a person is identified by the 12-digit citizen ID (CCCD)",
                },
                {
                    "pointer": "/form/waste_items/0/waste_code",
                    "detail": "'1' does not match '^[0-9]{2} [0-9]{2} [0-9]{2}$'",
                },
                {
                    "pointer": "/attachments/0/media_type",
                    "detail": "accepted types: application/pdf",
                },
            ],
        ),
    )
    answer = desk.client.post(
        "/desk/new",
        data=_filled(**{"form/waste_items/0/waste_code": "1"}),
        files=[("document/application_form", ("don.pdf", PDF, "application/pdf"))],
    )
    assert answer.status_code == 422
    html = answer.text
    assert 'role="alert"' in html
    for input_id, message in (
        ("f-applicant-id_number", "12-digit citizen ID"),
        ("f-form-waste_items-0-waste_code", "does not match"),
        ("f-document-application_form", "accepted types"),
    ):
        error = re.search(rf'<p class="error" id="{input_id}-error">(.*?)</p>', html, re.S)
        assert error is not None, input_id
        assert message in error.group(1)
        control = re.search(rf'<(?:input|select|textarea)[^>]*id="{input_id}"[^>]*>', html)
        assert control is not None, input_id
        assert f"{input_id}-error" in control.group(0)
        assert 'aria-invalid="true"' in control.group(0)
    # What was typed stays; the uploaded file is kept by its hash, not chosen again.
    assert 'value="Xưởng Minh Khai"' in html
    assert 'name="kept/application_form"' in html
    assert 'value="5f0c2a9e-7d1b-4c3a-9e8f-2b6d4a1c0e97"' in html


def test_a_refused_file_is_named_beside_its_input_and_nothing_is_submitted(desk: Bench) -> None:
    desk.intake.on(
        "POST",
        "/v1/documents",
        lambda r: problem(422, "document-refused", "a PDF carrying JavaScript is refused"),
    )
    answer = desk.client.post(
        "/desk/new",
        data=_filled(),
        files=[("document/application_form", ("bad.pdf", PDF, "application/pdf"))],
    )
    assert answer.status_code == 422
    assert "bad.pdf: a PDF carrying JavaScript is refused" in answer.text
    assert not [r for r in desk.intake.seen if r.url.path == "/v1/dossiers"]


def test_adding_a_row_draws_the_form_again_and_sends_nothing(desk: Bench) -> None:
    answer = desk.client.post(
        "/desk/new",
        data=_filled(more_rows="form/waste_items"),
        files=[("x", ("", b"", "text/plain"))],
    )
    assert answer.status_code == 200
    assert 'name="form/waste_items/1/waste_code"' in answer.text
    assert 'value="Dầu thải"' in answer.text
    assert [r.method for r in desk.intake.seen] == ["GET"]


def test_a_form_without_the_sessions_token_is_refused_and_nothing_sent(desk: Bench) -> None:
    answer = desk.client.post(
        "/desk/new", data=_filled(csrf_token="forged"), files=[("x", ("", b"", "text/plain"))]
    )
    assert answer.status_code == 403
    assert desk.intake.seen == []


def test_the_slip_is_passed_on_from_intake_with_the_desks_token(desk: Bench) -> None:
    slip = b"%PDF-1.7 slip of MT-261207-ABCDEF" + b"\0" * 100_000
    desk.intake.on(
        "GET",
        "/v1/dossiers/MT-261207-ABCDEF/slip.pdf",
        lambda r: httpx.Response(200, content=slip, headers={"Content-Type": "application/pdf"}),
    )
    answer = desk.client.get("/desk/slips/MT-261207-ABCDEF")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/pdf"
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.content == slip
    assert desk.intake.seen[-1].headers["Authorization"] == "Bearer token-desk"
    # Another unit's or an unknown dossier: the not-found page.
    desk.intake.on(
        "GET",
        "/v1/dossiers/MT-000000-ZZZZZZ/slip.pdf",
        lambda r: problem(404, "receipt-not-found", "no"),
    )
    assert desk.client.get("/desk/slips/MT-000000-ZZZZZZ").status_code == 404


def test_a_petition_by_post_carries_its_letter_and_the_day_it_arrived(desk: Bench) -> None:
    petition = procedure_detail("PAKN-001")
    desk.intake.on("GET", "/v1/procedures/PAKN-001", lambda r: httpx.Response(200, json=petition))
    desk.intake.on("POST", "/v1/dossiers", lambda r: httpx.Response(202, json=RECEIPT))
    form = desk.client.get("/desk/new", params={"procedure": "PAKN-001"})
    assert 'name="content"' in form.text
    answer = desk.client.post(
        "/desk/new",
        data={
            "csrf_token": CSRF,
            "procedure": "PAKN-001",
            "idempotency_key": "0c4a2f7e-1d2b-4c3a-9e8f-2b6d4a1c0e97",
            "channel": "post",
            "received_on": "2026-12-04",
            "applicant/type": "person",
            "applicant/name": "Trần Văn Thư",
            "applicant/id_number": "001090000001",
            "applicant/email": "thu@example.vn",
            "content": "  Đề nghị nạo vét kênh thoát nước  ",
        },
        files=[("x", ("", b"", "text/plain"))],
    )
    assert answer.status_code == 200, answer.text
    (submitted,) = [r for r in desk.intake.seen if r.url.path == "/v1/dossiers"]
    body = as_json(submitted)
    assert body["channel"] == "post"
    assert body["received_on"] == "2026-12-04"
    assert body["content"] == "Đề nghị nạo vét kênh thoát nước"
    assert body["attachments"] == []
