"""Submissions against the real broker and store: every kind accepted, every refusal
reason, idempotent retries, nothing published for a refused request."""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import date
from typing import Any

import httpx
import pytest

from chassis.catalogue import load_default_catalogue
from chassis.events import Topics
from intake.domain.receipt import is_valid_receipt_code
from tests.integration.intake.intake_bodies import (
    attachment,
    complaint_at_counter,
    land_change_at_counter,
    petition,
    unique_email,
    waste_registration,
)
from tests.integration.intake.intake_support import CLIENT_LIMIT, Intake, events_of, read_topic

pytestmark = pytest.mark.integration
CATALOGUE = load_default_catalogue()


async def submitted_events(intake: Intake) -> list[dict[str, Any]]:
    records = await read_topic(intake.kafka, intake.topic(Topics.SUBMISSIONS))
    return events_of(records, "dossier.submitted.v1")


async def test_each_kind_is_accepted_with_a_receipt(intake_service: Intake) -> None:
    cases = [
        ("procedure", waste_registration(), intake_service.portal()),
        ("petition", petition(), intake_service.portal()),
        ("complaint", complaint_at_counter(), intake_service.officer("STNMT-TTR")),
        (
            "procedure",
            land_change_at_counter(),
            intake_service.officer("STNMT-VPDK", role="leader"),
        ),
    ]
    accepted: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {}
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=15) as client:
        for kind, body, headers in cases:
            response = await client.post("/v1/dossiers", json=body, headers=headers)
            assert response.status_code == 202, response.text
            answer = response.json()
            accepted[answer["dossier_id"]] = (kind, body, answer)

            procedure = CATALOGUE.procedures[body["procedure_code"]]
            prefix = CATALOGUE.agency(procedure.agency).receipt_prefix
            assert answer["receipt_code"].startswith(f"{prefix}-")
            assert is_valid_receipt_code(answer["receipt_code"])
            assert date.fromisoformat(answer["due_date"]) > date.fromisoformat(
                answer["received_at"][:10]
            )
            assert len(answer["follow_up_secret"].replace("-", "")) == 25
            assert response.headers["location"] == answer["status_url"]

    events = {e["data"]["dossier_id"]: e for e in await submitted_events(intake_service)}
    for dossier_id, (kind, body, answer) in accepted.items():
        event = events[dossier_id]
        data = event["data"]
        assert data["kind"] == kind
        assert data["channel"] == body["channel"]
        assert data["receipt_code"] == answer["receipt_code"]
        assert data["due_date"] == answer["due_date"]
        assert data["procedure_code"] == body["procedure_code"]
        assert data["form"] == body["form"]
        assert data["applicant"]["name"] == body["applicant"]["name"]
        # The follow-up secret is shown once, to the applicant, and goes nowhere else.
        assert answer["follow_up_secret"] not in json.dumps(event)
    phone_event = events[next(d for d, v in accepted.items() if v[1]["procedure_code"] == "DD-002")]
    assert phone_event["data"]["applicant"]["phone"] == "+842438251234"


async def test_idempotent_retry_gives_the_same_answer_and_one_event(
    intake_service: Intake,
) -> None:
    portal = intake_service.portal()
    body = waste_registration()
    key = {"Idempotency-Key": f"order-{secrets.token_hex(6)}"}
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=15) as client:
        first = await client.post("/v1/dossiers", json=body, headers=portal | key)
        # Same content, keys in another order and the phone spelled differently.
        reordered = dict(reversed(list(body.items())))
        reordered["applicant"] = body["applicant"] | {"phone": "+84 912 345 678"}
        second = await client.post("/v1/dossiers", json=reordered, headers=portal | key)
        other_body = waste_registration(email=unique_email())
        conflict = await client.post("/v1/dossiers", json=other_body, headers=portal | key)
        other_client = await client.post(
            "/v1/dossiers", json=body, headers=intake_service.portal() | key
        )
    assert first.status_code == 202, first.text
    assert second.status_code == 202, second.text
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert conflict.status_code == 409
    assert conflict.headers["content-type"].startswith("application/problem+json")
    # Keys belong to their client: another portal's "same" key is another submission.
    assert other_client.status_code == 202
    assert other_client.json()["dossier_id"] != first.json()["dossier_id"]

    dossier_id = first.json()["dossier_id"]
    events = [e for e in await submitted_events(intake_service) if e["subject"] == dossier_id]
    assert len(events) == 1


async def test_concurrent_retries_make_one_dossier(intake_service: Intake) -> None:
    portal = intake_service.portal()
    body = petition()
    key = {"Idempotency-Key": secrets.token_hex(8)}
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=15) as client:
        answers = await asyncio.gather(
            *(client.post("/v1/dossiers", json=body, headers=portal | key) for _ in range(4))
        )
        settled = await client.post("/v1/dossiers", json=body, headers=portal | key)
    assert settled.status_code == 202
    dossier_id = settled.json()["dossier_id"]
    for answer in answers:
        # A retry that overtakes the first request is told to come back (409 + Retry-After).
        assert answer.status_code in (202, 409), answer.text
        if answer.status_code == 202:
            assert answer.json()["dossier_id"] == dossier_id
        else:
            assert answer.headers["retry-after"] == "1"
    submitted = await submitted_events(intake_service)
    assert [e["subject"] for e in submitted].count(dossier_id) == 1
    assert (
        sum(e["data"]["applicant"]["email"] == body["applicant"]["email"] for e in submitted) == 1
    )


def _mutate(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(body))
    target = copy
    parts = path.split("/")
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    last = parts[-1]
    if value is _DELETE:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return copy


_DELETE = object()

# (what is wrong, path to change, new value, expected pointer)
FIELD_REFUSALS: list[tuple[str, str, Any, str]] = [
    ("unknown top-level field", "priority", "high", "/priority"),
    ("unknown applicant field", "applicant/nickname", "An", "/applicant/nickname"),
    ("tax code of 9 digits", "applicant/id_number", "010123456", "/applicant/id_number"),
    ("foreign phone", "applicant/phone", "+1 202 555 0100", "/applicant/phone"),
    ("bad email", "applicant/email", "not-an-email", "/applicant/email"),
    ("bad language", "applicant/language", "fr", "/applicant/language"),
    ("unknown channel", "channel", "fax", "/channel"),
    ("form field missing", "form/facility_name", _DELETE, "/form/facility_name"),
    (
        "form value out of range",
        "form/waste_items/0/quantity_kg_per_year",
        0,
        "/form/waste_items/0/quantity_kg_per_year",
    ),
    ("unknown form field", "form/note", "x", "/form/note"),
    ("operator key in form", "form/$where", "sleep(1000)", "/form/$where"),
    ("dotted key in form", "form/waste_items/0/a.b", 1, "/form/waste_items/0/a.b"),
    (
        "unknown document",
        "attachments/0/document_code",
        "passport",
        "/attachments/0/document_code",
    ),
    (
        "bad media type",
        "attachments/0/media_type",
        "application/x-msdownload",
        "/attachments/0/media_type",
    ),
    ("attachment too large", "attachments/1/size", 26 * 1024 * 1024, "/attachments/1/size"),
    ("bad checksum", "attachments/0/sha256", "abc", "/attachments/0/sha256"),
    ("path in file name", "attachments/0/name", "../../etc/passwd", "/attachments/0/name"),
    ("too many attachments", "attachments", [attachment("application_form")] * 31, "/attachments"),
    ("free text on a procedure", "content", "Xin giải quyết nhanh", "/content"),
    ("unknown procedure", "procedure_code", "MT-999", "/procedure_code"),
]


async def test_every_refusal_is_a_problem_with_a_pointer_and_publishes_nothing(
    intake_service: Intake,
) -> None:
    marker = unique_email("refused")
    valid = waste_registration(email=marker)
    person = waste_registration(email=marker)
    person["applicant"] = person["applicant"] | {"type": "person", "id_number": "0101234567"}
    cases = [
        (what, _mutate(valid, path, value), pointer)
        for what, path, value, pointer in FIELD_REFUSALS
    ]
    cases.append(("person with a tax code", person, "/applicant/id_number"))
    # Full and partial procedures are lodged online; one offered at the desk only is not.
    not_online = land_change_at_counter() | {"procedure_code": "BHD-001", "channel": "online"}
    not_online["applicant"] = not_online["applicant"] | {"email": marker}
    cases.append(("procedure without online lodging", not_online, "/channel"))

    async with httpx.AsyncClient(base_url=intake_service.url, timeout=15) as client:
        for index, (what, body, pointer) in enumerate(cases):
            # A fresh client now and then keeps this test under the per-client limit.
            headers = intake_service.portal(f"portal-refusals-{index // 10}")
            response = await client.post("/v1/dossiers", json=body, headers=headers)
            assert response.status_code == 422, f"{what}: {response.status_code} {response.text}"
            assert response.headers["content-type"].startswith("application/problem+json")
            problem = response.json()
            assert problem["status"] == 422
            assert pointer in [e["pointer"] for e in problem["errors"]], f"{what}: {problem}"

        forbidden = [
            ("portal on the counter channel", land_change_at_counter(), intake_service.portal()),
            (
                "officer of another agency",
                land_change_at_counter(),
                intake_service.officer("STNMT-MT"),
            ),
            ("officer on the online channel", valid, intake_service.officer("STNMT-MT")),
            ("desk on the online channel", valid, intake_service.officer("STNMT-VP", role="desk")),
            (
                "hotline at the counter",
                land_change_at_counter(),
                intake_service.officer("STNMT-VP", role="hotline"),
            ),
            ("portal on the phone channel", valid | {"channel": "phone"}, intake_service.portal()),
            ("auditor", valid, intake_service.officer("STNMT-MT", role="auditor")),
        ]
        for what, body, headers in forbidden:
            body = json.loads(json.dumps(body))
            body["applicant"]["email"] = marker
            response = await client.post("/v1/dossiers", json=body, headers=headers)
            assert response.status_code == 403, f"{what}: {response.text}"
            assert response.headers["content-type"].startswith("application/problem+json")

        anonymous = await client.post("/v1/dossiers", json=valid)
        assert anonymous.status_code == 401
        forged = await client.post(
            "/v1/dossiers", json=valid, headers={"Authorization": "Bearer not.a.token"}
        )
        assert forged.status_code == 401

        huge = waste_registration(email=marker)
        huge["form"]["facility_name"] = "x" * 70_000
        too_large = await client.post("/v1/dossiers", json=huge, headers=intake_service.portal())
        assert too_large.status_code == 413
        assert too_large.headers["content-type"].startswith("application/problem+json")

        bad_key = await client.post(
            "/v1/dossiers",
            json=valid,
            headers=intake_service.portal() | {"Idempotency-Key": "k" * 300},
        )
        assert bad_key.status_code == 422

        not_json = await client.post(
            "/v1/dossiers",
            content=b"{not json",
            headers=intake_service.portal() | {"content-type": "application/json"},
        )
        assert not_json.status_code == 422

    assert not [
        e
        for e in await submitted_events(intake_service)
        if e["data"]["applicant"].get("email") == marker
    ]


async def test_rate_limit_per_client_answers_429_with_retry_after(intake_service: Intake) -> None:
    portal = intake_service.portal()
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=15) as client:
        statuses = []
        for _ in range(CLIENT_LIMIT + 1):
            # Refused bodies cost the client its quota too: the limit comes first.
            response = await client.post("/v1/dossiers", json={}, headers=portal)
            statuses.append(response.status_code)
        limited = response
        other = await client.post("/v1/dossiers", json={}, headers=intake_service.portal())
    assert statuses[:CLIENT_LIMIT] == [422] * CLIENT_LIMIT
    assert limited.status_code == 429
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert other.status_code == 422
