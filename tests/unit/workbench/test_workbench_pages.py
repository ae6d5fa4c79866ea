"""The officers' pages in-process, over fake services (httpx's mock transport): the
sign-in round trip, the session cookie, CSRF, the race explanation, another agency's
dossier, and a service that is away."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from chassis.auth import mint_token, new_signing_key, write_jwks
from workbench.api.web import Wiring, seal
from workbench.domain.session import Session
from workbench.main import build_app
from workbench.settings import WorkbenchSettings

DOSSIER = "0b6f1c3e-8d2a-4f5e-9a71-3c2d1e0f4a5b"
ISSUER = "http://idp.test"


def _dossier(version: int, history: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "dossier_id": DOSSIER,
        "receipt_code": "MT-261207-ABCDEF",
        "procedure_code": "MT-004",
        "procedure_name_vi": "Đăng ký chủ nguồn thải",
        "procedure_name_en": "Hazardous waste registration",
        "agency": "STNMT-MT",
        "kind": "procedure",
        "channel": "online",
        "status": history[-1]["to_status"],
        "version": version,
        "submitted_at": "2026-12-01T02:00:00Z",
        "due_date": "2026-12-17",
        "appointment_date": "2026-12-17",
        "deadline_extended": False,
        "overdue": False,
        "clock_paused": False,
        "assignee": None,
        "applicant": {"display_name": "Nguyễn Văn Mẫu", "pseudonym": None},
        "form": {"facility_name": "Xưởng Minh Khai"},
        "content": None,
        "attachments": [],
        "missing_documents": [],
        "result_reference": None,
        "decided_at": None,
        "allowed_actions": ["request_supplement", "start_review", "withdraw"],
        "history": history,
        "notes": [],
    }


class FakeProcessing:
    """Processing's officers' API for one dossier of STNMT-MT, with its version guard."""

    def __init__(self) -> None:
        now = datetime.now(UTC)
        self.history = [
            {
                "action": "receive",
                "from_status": "submitted",
                "to_status": "received",
                "actor": "system:processing",
                "at": (now - timedelta(hours=1)).isoformat(),
            }
        ]
        self.version = 2
        self.requests: list[httpx.Request] = []
        self.down = False
        self.token_refused = False
        # Fields of the dossier that differ from `_dossier`'s (e.g. a complaint's).
        self.changes: dict[str, Any] = {}

    def colleague_acts(self, action: str, to_status: str, minutes_ago: int) -> None:
        self.history.append(
            {
                "action": action,
                "from_status": self.history[-1]["to_status"],
                "to_status": to_status,
                "actor": "officer:u-colleague",
                "at": (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(),
            }
        )
        self.version += 1

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            raise httpx.ConnectError("refused", request=request)
        if self.token_refused:
            return httpx.Response(401, json={"type": "about:blank/invalid-token"})
        if request.url.path == "/v1/officer/queue":
            return self.queue(request)
        # Another agency's dossier and a missing one: the same 403, as processing answers.
        if not request.url.path.startswith(f"/v1/officer/dossiers/{DOSSIER}"):
            return httpx.Response(
                403, json={"type": "https://hoso.example/problems/dossier-not-visible"}
            )
        if request.method == "GET":
            return httpx.Response(
                200, json={**_dossier(self.version, self.history), **self.changes}
            )
        if request.headers.get("if-match") != f'"{self.version}"':
            return httpx.Response(
                412,
                json={"type": "https://hoso.example/problems/version-mismatch", "status": 412},
            )
        body = json.loads(request.content)
        self.colleague_acts(body["action"], "in_review", 0)
        self.history[-1]["actor"] = "officer:u-me"
        return httpx.Response(200, json=_dossier(self.version, self.history))

    def queue(self, request: httpx.Request) -> httpx.Response:
        """Two pages of one row each: the second behind the cursor ``c2``."""
        cursor = request.url.params.get("cursor")
        row = {
            "dossier_id": DOSSIER,
            "receipt_code": "MT-261207-PAGE2X" if cursor else "MT-261207-PAGE1X",
            "procedure_code": "MT-004",
            "procedure_name_vi": "Đăng ký chủ nguồn thải",
            "procedure_name_en": "Hazardous waste registration",
            "kind": "procedure",
            "status": "received",
            "version": 2,
            "submitted_at": "2026-12-01T02:00:00Z",
            "due_date": "2026-12-17",
            "appointment_date": "2026-12-17",
            "overdue": not cursor,
            "clock_paused": False,
            "assignee": None,
        }
        return httpx.Response(200, json={"items": [row], "next_cursor": None if cursor else "c2"})


class Stub:
    """The app with its services replaced, and a signed-in officer's cookie."""

    def __init__(self, tmp: Path) -> None:
        self.key = new_signing_key()
        settings = WorkbenchSettings(
            jwt_jwks_file=str(write_jwks(tmp / "jwks.json", self.key)),
            jwt_issuer=ISSUER,
            idp_url=ISSUER,
            session_key="Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGw=",
            log_json=False,
        )
        self.app = build_app(settings)
        self.wiring: Wiring = self.app.state.wiring
        self.processing = FakeProcessing()
        self.wiring.processing.http = httpx.AsyncClient(
            transport=httpx.MockTransport(self.processing.handle), base_url="http://processing"
        )
        self.wiring.intake.http = httpx.AsyncClient(
            transport=httpx.MockTransport(lambda r: httpx.Response(503)), base_url="http://intake"
        )
        self.codes: dict[str, str] = {}
        self.wiring.idp.http = httpx.AsyncClient(
            transport=httpx.MockTransport(self._idp), base_url=ISSUER
        )

    def _idp(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if form.get("code") != "good-code":
            return httpx.Response(400, json={"error": "invalid_grant"})
        token = mint_token(self.key, "u-me", ["officer"], agency="STNMT-MT", issuer=ISSUER)
        return httpx.Response(200, json={"access_token": token, "token_type": "Bearer"})

    def session_cookie(self, agency: str = "STNMT-MT", csrf: str = "the-csrf") -> str:
        session = Session("token", "u-me", frozenset({"officer"}), agency, csrf, time.time() + 600)
        return seal(self.wiring, session.to_record())


@pytest.fixture
def stub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Stub:
    # The test's own keys only: a shell with `deploy/local.py env` exported names the
    # running provider's, which would win over the file.
    monkeypatch.delenv("JWT_JWKS_URL", raising=False)
    return Stub(tmp_path)


@pytest.fixture
def client(stub: Stub) -> Iterator[TestClient]:
    with TestClient(stub.app, follow_redirects=False) as test_client:
        yield test_client


def _signed_in(client: TestClient, stub: Stub, **kwargs: str) -> TestClient:
    client.cookies.set("hoso_session", stub.session_cookie(**kwargs))
    return client


def test_a_page_without_a_session_sends_the_person_to_sign_in_and_back(
    client: TestClient,
) -> None:
    answer = client.get("/queue?status=received")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/auth/sign-in?next=%2Fqueue%3Fstatus%3Dreceived"
    to_idp = client.get(answer.headers["location"])
    assert to_idp.status_code == 303
    query = parse_qs(urlsplit(to_idp.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["client_id"] == ["hoso-workbench"]
    assert query["redirect_uri"] == ["http://testserver/auth/callback"]
    assert query["ui_locales"] == ["vi"]


def test_the_callback_makes_a_sealed_http_only_session_from_the_verified_token(
    client: TestClient,
) -> None:
    to_idp = client.get("/auth/sign-in?next=/queue")
    state = parse_qs(urlsplit(to_idp.headers["location"]).query)["state"][0]

    wrong_state = client.get("/auth/callback", params={"code": "good-code", "state": "forged"})
    assert wrong_state.status_code == 400
    assert "hoso_session" not in wrong_state.headers.get("set-cookie", "")

    answer = client.get("/auth/callback", params={"code": "good-code", "state": state})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/queue"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if "hoso_session=" in c)
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http here
    assert "u-me" not in cookie  # sealed: nothing of it readable


def test_over_tls_the_cookie_is_secure_and_host_only(stub: Stub) -> None:
    with TestClient(stub.app, base_url="https://testserver", follow_redirects=False) as client:
        to_idp = client.get("/auth/sign-in")
        assert "Secure" in to_idp.headers["set-cookie"]
        assert to_idp.headers["set-cookie"].startswith("__Host-hoso_sign_in=")
        state = parse_qs(urlsplit(to_idp.headers["location"]).query)["state"][0]
        answer = client.get("/auth/callback", params={"code": "good-code", "state": state})
        cookie = next(c for c in answer.headers.get_list("set-cookie") if "hoso_session=" in c)
        assert cookie.startswith("__Host-hoso_session=")
        assert "Secure" in cookie


def test_a_post_without_the_csrf_token_is_refused_before_any_service_is_called(
    client: TestClient, stub: Stub
) -> None:
    _signed_in(client, stub)
    for form in ({}, {"csrf_token": "wrong"}):
        answer = client.post(f"/dossiers/{DOSSIER}/notes", data=form | {"text": "x"})
        assert answer.status_code == 403
        assert "Biểu mẫu đã hết hiệu lực" in answer.text
    assert stub.processing.requests == []


def test_a_colleague_acting_first_is_explained_on_the_dossier_page(
    client: TestClient, stub: Stub
) -> None:
    _signed_in(client, stub)
    page = client.get(f"/dossiers/{DOSSIER}")
    assert page.status_code == 200
    stub.processing.colleague_acts("start_review", "in_review", minutes_ago=2)
    answer = client.post(
        f"/dossiers/{DOSSIER}/actions",
        data={"csrf_token": "the-csrf", "version": "2", "action": "start_review"},
    )
    assert answer.status_code == 409
    assert "Một đồng nghiệp đã bắt đầu thẩm định hồ sơ này 2 phút trước" in answer.text
    assert 'role="alert"' in answer.text
    assert "Tải lại hồ sơ" in answer.text

    done = client.post(
        f"/dossiers/{DOSSIER}/actions",
        data={"csrf_token": "the-csrf", "version": "3", "action": "start_review"},
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/dossiers/{DOSSIER}?done=start_review"


def test_a_dossier_out_of_reach_gets_the_page_of_a_missing_one(
    client: TestClient, stub: Stub
) -> None:
    _signed_in(client, stub)
    unknown = client.get("/dossiers/11111111-2222-3333-4444-555555555555")
    malformed = client.get("/dossiers/not-an-id")
    assert unknown.status_code == malformed.status_code == 404

    def main(text: str) -> str:
        return text[text.index("<main") : text.index("</main>")]

    assert main(unknown.text) == main(malformed.text)
    assert "Không tìm thấy" in unknown.text


def test_an_expired_token_signs_the_person_out_and_a_service_away_says_so(
    client: TestClient, stub: Stub
) -> None:
    _signed_in(client, stub)
    stub.processing.token_refused = True
    answer = client.get(f"/dossiers/{DOSSIER}")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/auth/sign-in"
    stub.processing.token_refused = False
    stub.processing.down = True
    _signed_in(client, stub)
    away = client.get(f"/dossiers/{DOSSIER}")
    assert away.status_code == 503
    assert "Dịch vụ tạm thời gián đoạn" in away.text


def test_pages_carry_the_security_headers_and_the_english_switch_sticks(
    client: TestClient,
) -> None:
    home = client.get("/")
    assert "script-src 'self'" in home.headers["content-security-policy"]
    assert home.headers["x-frame-options"] == "DENY"
    assert home.headers["referrer-policy"] == "same-origin"
    assert home.headers["cache-control"] == "no-store"
    switched = client.get("/language/en?next=//evil.example/")
    assert switched.headers["location"] == "/"
    assert 'lang="en"' in client.get("/").text
    client.get("/language/xx?next=/")
    assert 'lang="en"' in client.get("/").text


def test_the_queue_asks_for_overdue_first_and_pages_on_with_the_same_filters(
    client: TestClient, stub: Stub
) -> None:
    _signed_in(client, stub)
    first = client.get("/queue?status=received&procedure=MT-004&overdue=1&assignee=me&x=1")
    assert first.status_code == 200
    sent = stub.processing.requests[-1].url.params
    assert sent.get_list("status") == ["received"]
    assert sent["procedure_code"] == "MT-004"
    assert sent["overdue"] == "true"
    assert sent["assigned_to"] == "me"
    assert sent["sort"] == "due_date"
    assert "MT-261207-PAGE1X" in first.text
    assert "Quá hạn" in first.text
    following = "status=received&amp;procedure=MT-004&amp;overdue=1&amp;assignee=me&amp;cursor=c2"
    assert f'href="/queue?{following}"' in first.text
    second = client.get("/queue?status=received&procedure=MT-004&overdue=1&assignee=me&cursor=c2")
    assert stub.processing.requests[-1].url.params["cursor"] == "c2"
    assert "MT-261207-PAGE2X" in second.text
    assert "cursor=" not in second.text.split("Trang đầu")[-1]  # the last page: no next link
    # Values processing would refuse are dropped, not sent.
    client.get("/queue?status=$ne&procedure=drop%20table&assignee=u-x&cursor=%7B%7D")
    sent = stub.processing.requests[-1].url.params
    assert "status" not in sent
    assert "assigned_to" not in sent
    assert "procedure_code" not in sent
    assert "cursor" not in sent


def test_only_a_document_the_dossier_names_is_passed_on(client: TestClient, stub: Stub) -> None:
    _signed_in(client, stub)
    answer = client.get(f"/dossiers/{DOSSIER}/documents/6751c0a2e4b0f1a2b3c4d5e6")
    # Not intake's answer (its fake is away: that would be the 503 page): the dossier
    # names no such document, so intake is never asked.
    assert answer.status_code == 404
    malformed = client.get(f"/dossiers/{DOSSIER}/documents/..%2F..%2Fetc")
    assert malformed.status_code == 404


def test_the_anonymous_home_page_leads_citizens_to_their_follow_up(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert 'href="/follow-up"' in page.text
    assert 'href="/auth/sign-in"' in page.text
    assert client.get("/follow-up").status_code == 200


def test_a_complaint_awaiting_acceptance_shows_its_status_decision_and_forms(
    client: TestClient, stub: Stub
) -> None:
    _signed_in(client, stub)
    stub.processing.history[-1]["to_status"] = "awaiting_acceptance"
    stub.processing.changes = {
        "kind": "complaint",
        "acceptance_due_date": "2026-12-15",
        "accepted_at": None,
        "missing_items": ["Bản sao quyết định bị khiếu nại"],
        "decision": {"number": "12/TB-STNMT", "issued_on": "2026-12-05", "summary": "Không thụ lý"},
        # Not all at once in processing; here to see each form drawn.
        "allowed_actions": ["accept", "decline", "reject"],
    }
    page = client.get(f"/dossiers/{DOSSIER}")
    assert page.status_code == 200
    assert "Chờ quyết định thụ lý" in page.text
    assert "status.awaiting_acceptance" not in page.text
    assert "15/12/2026" in page.text
    assert "12/TB-STNMT" in page.text
    assert "05/12/2026" in page.text
    assert "Bản sao quyết định bị khiếu nại" in page.text
    assert 'id="action-accept-button"' in page.text
    assert 'id="complex-accept"' in page.text
    assert 'id="decision-number-decline"' in page.text
    # Declining needs a reason; the notice's number is optional.
    assert 'id="reason-decline" name="reason"' in page.text
    decline = page.text[page.text.index('id="reason-decline"') :]
    assert decline[: decline.index(">")].endswith("required")
    number = page.text[page.text.index('id="decision-number-decline"') :]
    assert "required" not in number[: number.index(">")]
    # Rejecting a complaint needs its written decision; its number stands as the reference.
    number = page.text[page.text.index('id="decision-number-reject"') :]
    assert number[: number.index(">")].endswith("required")
    assert 'id="reference-' not in page.text
