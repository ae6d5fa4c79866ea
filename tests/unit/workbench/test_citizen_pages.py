"""The citizens' pages in-process over fake services: the dossier opened by a posted
form (never by URL), the double-submit CSRF token, the status in plain words, the
supplement uploaded as the workbench's portal client, the result passed on."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest

from tests.unit.workbench.workbench_fakes import Bench, as_json, bench, problem, procedure_detail

CODE = "MT-261207-ABCDEF"
SECRET = "K7QD-4XPM-2RTA-9B3C"


def _status(state: str, **extra: object) -> dict[str, object]:
    return {
        "receipt_code": CODE,
        "procedure_code": "MT-004",
        "procedure_name_vi": "Đăng ký chủ nguồn thải chất thải nguy hại",
        "procedure_name_en": "Registration as a hazardous waste source owner",
        "status": state,
        "due_date": None,
        "missing_documents": ["business_registration"] if state == "supplement_requested" else [],
        "updated_at": "2026-12-07T03:00:00Z",
        **extra,
    }


@pytest.fixture
def citizen() -> Bench:
    b = bench(portal_client_id="hoso-workbench-portal", portal_client_secret="s3cret")
    detail = procedure_detail("MT-004")
    b.intake.on("GET", "/v1/procedures/MT-004", lambda r: httpx.Response(200, json=detail))
    b.idp.on(
        "POST",
        "/token",
        lambda r: httpx.Response(200, json={"access_token": "portal-token", "expires_in": 3600}),
    )
    return b


def _opened_with(b: Bench, state: str, **extra: object) -> httpx.Response:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers.get("X-Follow-Up-Secret") != SECRET:
            return problem(404, "dossier-not-found", "no such dossier")
        return httpx.Response(200, json=_status(state, **extra))

    b.intake.on("GET", f"/v1/dossiers/{CODE}/status", answer)
    form = b.client.get("/follow-up")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    return b.client.post(
        "/follow-up",
        data={"csrf_token": token.group(1), "receipt_code": CODE.lower(), "secret": SECRET},
    )


def _status_calls(b: Bench) -> list[httpx.Request]:
    return [r for r in b.intake.seen if r.url.path.endswith("/status")]


def _token(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def test_the_dossier_opens_by_posted_code_and_secret_and_reads_in_plain_words(
    citizen: Bench,
) -> None:
    page = _opened_with(citizen, "in_review")
    assert page.status_code == 200
    assert "Cán bộ đang xem xét hồ sơ của bạn." in page.text
    assert 'aria-current="step"' in page.text
    # The code and secret went to intake in the path and a header; the secret is in no
    # link or cookie the page shows, and the next page needs neither again.
    (seen,) = _status_calls(citizen)
    assert seen.url.path == f"/v1/dossiers/{CODE}/status"
    assert seen.headers["X-Follow-Up-Secret"] == SECRET
    assert SECRET not in page.text
    assert SECRET not in page.headers.get("set-cookie", "")
    # The language switch comes back to the dossier, not to the form that opened it.
    assert 'href="/language/en?next=/follow-up/dossier"' in page.text
    again = citizen.client.get("/follow-up/dossier")
    assert again.status_code == 200
    assert _status_calls(citizen)[-1].headers["X-Follow-Up-Secret"] == SECRET
    citizen.client.cookies.set("hoso_lang", "en")
    english = citizen.client.get("/follow-up/dossier")
    assert "An officer is examining your dossier." in english.text


def test_a_wrong_secret_gets_the_same_answer_as_an_unknown_code(citizen: Bench) -> None:
    citizen.intake.on(
        "GET", f"/v1/dossiers/{CODE}/status", lambda r: problem(404, "dossier-not-found", "no")
    )
    form = citizen.client.get("/follow-up")
    answer = citizen.client.post(
        "/follow-up", data={"csrf_token": _token(form), "receipt_code": CODE, "secret": "WRONG-1"}
    )
    assert answer.status_code == 404
    assert "Không tìm thấy hồ sơ" in answer.text
    assert citizen.client.get("/follow-up/dossier").status_code == 303


def test_a_form_without_the_cookies_token_is_refused_before_intake_is_asked(
    citizen: Bench,
) -> None:
    citizen.client.get("/follow-up")
    answer = citizen.client.post(
        "/follow-up", data={"csrf_token": "forged", "receipt_code": CODE, "secret": SECRET}
    )
    assert answer.status_code == 403
    assert not [r for r in citizen.intake.seen if "/status" in r.url.path]


def test_a_malformed_code_is_named_beside_its_input(citizen: Bench) -> None:
    form = citizen.client.get("/follow-up")
    answer = citizen.client.post(
        "/follow-up", data={"csrf_token": _token(form), "receipt_code": "??", "phone": ""}
    )
    assert answer.status_code == 422
    assert 'id="f-receipt_code-error"' in answer.text
    assert 'id="f-secret-error"' in answer.text


def test_the_supplement_is_uploaded_as_the_portal_client_and_handed_in(citizen: Bench) -> None:
    page = _opened_with(citizen, "supplement_requested")
    assert "Giấy chứng nhận đăng ký doanh nghiệp" in page.text
    assert 'name="document/business_registration"' in page.text

    def stored(request: httpx.Request) -> httpx.Response:
        body = request.read()
        return httpx.Response(
            201,
            json={
                "document_id": "d" * 24,
                "sha256": hashlib.sha256(body).hexdigest(),
                "size": len(body),
                "media_type": "application/pdf",
            },
        )

    citizen.intake.on("POST", "/v1/documents", stored)
    citizen.intake.on(
        "POST",
        f"/v1/dossiers/{CODE}/supplements",
        lambda r: httpx.Response(
            202,
            json={
                "receipt_code": CODE,
                "request": "supplement",
                "accepted_at": "2026-12-07T03:05:00Z",
            },
        ),
    )
    pdf = b"%PDF-1.4 supplement"
    answer = citizen.client.post(
        "/follow-up/supplement",
        data={"csrf_token": _token(page), "note": "Bản rõ hơn"},
        files=[("document/business_registration", ("dkkd.pdf", pdf, "application/pdf"))],
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/follow-up/dossier?done=supplement"
    (upload,) = [r for r in citizen.intake.seen if r.url.path == "/v1/documents"]
    assert upload.headers["Authorization"] == "Bearer portal-token"
    (handed_in,) = [r for r in citizen.intake.seen if r.url.path.endswith("/supplements")]
    assert handed_in.headers["X-Follow-Up-Secret"] == SECRET
    assert "Authorization" not in handed_in.headers
    assert as_json(handed_in) == {
        "attachments": [
            {
                "document_code": "business_registration",
                "sha256": hashlib.sha256(pdf).hexdigest(),
                "size": len(pdf),
                "name": "dkkd.pdf",
                "media_type": "application/pdf",
            }
        ],
        "note": "Bản rõ hơn",
    }
    token_request = citizen.idp.seen[0]
    assert b"grant_type=client_credentials" in token_request.read()


def test_a_supplement_without_a_file_is_refused_beside_the_input(citizen: Bench) -> None:
    page = _opened_with(citizen, "supplement_requested")
    answer = citizen.client.post(
        "/follow-up/supplement",
        data={"csrf_token": _token(page)},
        files=[("document/business_registration", ("", b"", "application/octet-stream"))],
    )
    assert answer.status_code == 422
    assert 'id="f-document-business_registration-error"' in answer.text
    assert not [r for r in citizen.intake.seen if r.method == "POST"]


def test_the_result_is_passed_on_once_issued(citizen: Bench) -> None:
    page = _opened_with(citizen, "result_returned", result_document={"document_id": "r" * 24})
    assert 'href="/follow-up/result"' in page.text
    document = b"%PDF-1.7 signed licence"
    citizen.intake.on(
        "GET",
        f"/v1/dossiers/{CODE}/documents/{'r' * 24}",
        lambda r: httpx.Response(
            200,
            content=document,
            headers={
                "Content-Type": "application/pdf",
                "Content-Disposition": 'attachment; filename="ket-qua.pdf"',
            },
        ),
    )
    answer = citizen.client.get("/follow-up/result")
    assert answer.status_code == 200
    assert answer.content == document
    assert answer.headers["Content-Disposition"] == 'attachment; filename="ket-qua.pdf"'
    assert citizen.intake.seen[-1].headers["X-Follow-Up-Secret"] == SECRET


def test_closing_forgets_the_dossier_on_this_browser(citizen: Bench) -> None:
    page = _opened_with(citizen, "received")
    closed = citizen.client.post("/follow-up/close", data={"csrf_token": _token(page)})
    assert closed.status_code == 303
    assert citizen.client.get("/follow-up/dossier").status_code == 303
