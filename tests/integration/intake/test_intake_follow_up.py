"""Citizen follow-up against the real service: status by receipt code and second factor,
the projection of processing's events, supplements and withdrawals, rate limits."""

from __future__ import annotations

import itertools
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from chassis.events import DossierApologyIssued, Recipient, Topics
from intake.domain.receipt import new_receipt_code
from tests.integration.intake.intake_bodies import attachment, waste_registration
from tests.integration.intake.intake_support import Intake, events_of, read_topic, status_changed
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


_ADDRESSES = itertools.count(secrets.randbelow(1 << 15))


def from_ip() -> dict[str, str]:
    """A client address of its own (as the proxy's X-Forwarded-For), so the per-IP limit
    of one look-up does not spill into another."""
    n = next(_ADDRESSES)
    return {"X-Forwarded-For": f"198.18.{n // 250 % 250}.{n % 250 + 1}"}


async def submit(client: httpx.AsyncClient, intake: Intake) -> dict[str, Any]:
    response = await client.post("/v1/dossiers", json=waste_registration(), headers=intake.portal())
    assert response.status_code == 202, response.text
    return response.json()


async def test_status_needs_the_right_second_factor_and_reveals_nothing_else(
    intake_service: Intake,
) -> None:
    ip = from_ip()
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=15) as client:
        receipt = await submit(client, intake_service)
        code = receipt["receipt_code"]
        url = f"/v1/dossiers/{code}/status"

        by_secret = await client.get(
            url, headers=ip | {"X-Follow-Up-Secret": receipt["follow_up_secret"]}
        )
        typed = receipt["follow_up_secret"].replace("-", " ").lower()
        by_typed_secret = await client.get(
            f"/v1/dossiers/{code.lower()}/status", headers=ip | {"X-Follow-Up-Secret": typed}
        )
        by_phone = await client.get(url, headers=ip | {"X-Applicant-Phone": "+84 912 345 678"})

        wrong_secret = await client.get(
            url, headers=ip | {"X-Follow-Up-Secret": "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE"}
        )
        wrong_phone = await client.get(url, headers=ip | {"X-Applicant-Phone": "0912345679"})
        unknown_code = new_receipt_code("MT", date.fromisoformat(receipt["received_at"][:10]))
        unknown = await client.get(
            f"/v1/dossiers/{unknown_code}/status",
            headers=ip | {"X-Follow-Up-Secret": receipt["follow_up_secret"]},
        )
        malformed = await client.get(
            "/v1/dossiers/not-a-code/status", headers=ip | {"X-Applicant-Phone": "0912345678"}
        )
        no_factor = await client.get(url, headers=ip)

    for answer in (by_secret, by_typed_secret, by_phone):
        assert answer.status_code == 200, answer.text
        assert answer.json() == by_secret.json()
    status = by_secret.json()
    assert status["receipt_code"] == code
    assert status["status"] == "submitted"
    assert status["due_date"] == receipt["due_date"]
    assert status["procedure_code"] == "MT-004"
    assert "applicant" not in status

    refusals = [wrong_secret, wrong_phone, unknown, malformed]
    for answer in refusals:
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("application/problem+json")
    # Byte for byte the same: a guesser cannot tell an existing code from a made-up one.
    assert len({answer.content for answer in refusals}) == 1
    assert no_factor.status_code == 401


async def test_projection_supplement_and_withdrawal(intake_service: Intake) -> None:
    ip = from_ip()
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=15) as client:
        receipt = await submit(client, intake_service)
        code, dossier_id = receipt["receipt_code"], receipt["dossier_id"]
        factor = ip | {"X-Follow-Up-Secret": receipt["follow_up_secret"]}
        supplement = {"attachments": [attachment("business_registration")], "note": "Bản sao"}

        early = await client.post(
            f"/v1/dossiers/{code}/supplements", json=supplement, headers=factor
        )
        assert early.status_code == 409
        assert early.headers["content-type"].startswith("application/problem+json")

        await intake_service.publish(
            status_changed(
                dossier_id,
                code,
                2,
                "supplement_requested",
                old_status="submitted",
                missing_documents=["business_registration"],
                due_date=date.fromisoformat(receipt["due_date"]),
            )
        )

        async def current() -> dict[str, Any]:
            response = await client.get(f"/v1/dossiers/{code}/status", headers=factor)
            assert response.status_code == 200, response.text
            return response.json()

        async def requested() -> dict[str, Any] | None:
            body = await current()
            return body if body["status"] == "supplement_requested" else None

        status = await eventually(requested, timeout_s=30, what="supplement_requested")
        assert status["missing_documents"] == ["business_registration"]

        # A stale event (older version) arrives late; the apology slip after it on the
        # same partition shows when both have been handled.
        await intake_service.publish(status_changed(dossier_id, code, 1, "received"))
        new_due = date.fromisoformat(receipt["due_date"]) + timedelta(days=7)
        await intake_service.publish(
            DossierApologyIssued(
                dossier_id=dossier_id,
                receipt_code=code,
                procedure_code="MT-004",
                procedure_name_vi="x",
                procedure_name_en="x",
                agency="STNMT-MT",
                agency_name_vi="x",
                agency_name_en="x",
                old_due_date=date.fromisoformat(receipt["due_date"]),
                new_due_date=new_due,
                reason="Cần thêm thời gian kiểm tra thực địa",
                issued_at=datetime.now(UTC),
                recipient=Recipient(),
            )
        )

        async def moved() -> dict[str, Any] | None:
            body = await current()
            return body if body["due_date"] == new_due.isoformat() else None

        status = await eventually(moved, timeout_s=30, what="the new appointment")
        assert status["status"] == "supplement_requested"

        bad = await client.post(
            f"/v1/dossiers/{code}/supplements",
            json={"attachments": [attachment("passport")]},
            headers=factor,
        )
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["pointer"] == "/attachments/0/document_code"

        first = await client.post(
            f"/v1/dossiers/{code}/supplements", json=supplement, headers=factor
        )
        again = await client.post(
            f"/v1/dossiers/{code}/supplements", json=supplement, headers=factor
        )
        assert first.status_code == again.status_code == 202, first.text

        withdrawal = await client.post(
            f"/v1/dossiers/{code}/withdrawal",
            json={"reason": "Doanh nghiệp ngừng hoạt động"},
            headers=ip | {"X-Applicant-Phone": "0912345678"},
        )
        assert withdrawal.status_code == 202, withdrawal.text

        await intake_service.publish(status_changed(dossier_id, code, 5, "withdrawn"))

        async def withdrawn() -> dict[str, Any] | None:
            body = await current()
            return body if body["status"] == "withdrawn" else None

        await eventually(withdrawn, timeout_s=30, what="withdrawn")
        late = await client.post(f"/v1/dossiers/{code}/withdrawal", headers=factor)
        assert late.status_code == 409

    records = await read_topic(intake_service.kafka, intake_service.topic(Topics.SUBMISSIONS))
    supplemented = [
        e for e in events_of(records, "dossier.supplemented.v1") if e["subject"] == dossier_id
    ]
    # The double click reached the topic twice under one event id: consumers keep one.
    assert len(supplemented) == 2
    assert supplemented[0]["id"] == supplemented[1]["id"]
    assert supplemented[0]["data"]["attachments"][0]["document_code"] == "business_registration"
    assert supplemented[0]["actor"] == f"citizen:{dossier_id}"
    withdrawals = [
        e
        for e in events_of(records, "dossier.withdrawal-requested.v1")
        if e["subject"] == dossier_id
    ]
    assert len(withdrawals) == 1
    assert withdrawals[0]["data"]["reason"] == "Doanh nghiệp ngừng hoạt động"


async def test_follow_up_is_rate_limited_per_ip(intake_service: Intake) -> None:
    ip = from_ip()
    other_ip = from_ip()
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=15) as client:
        code = new_receipt_code("MT", date.today())
        answers = [
            await client.get(
                f"/v1/dossiers/{code}/status", headers=ip | {"X-Follow-Up-Secret": "x"}
            )
            for _ in range(31)
        ]
        elsewhere = await client.get(
            f"/v1/dossiers/{code}/status", headers=other_ip | {"X-Follow-Up-Secret": "x"}
        )
    assert [a.status_code for a in answers[:30]] == [404] * 30
    assert answers[30].status_code == 429
    assert int(answers[30].headers["retry-after"]) >= 1
    assert elsewhere.status_code == 404


async def test_phone_guesses_are_limited_per_code_existing_or_not(intake_service: Intake) -> None:
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=15) as client:
        receipt = await submit(client, intake_service)
        known = receipt["receipt_code"]
        unknown = new_receipt_code("MT", date.fromisoformat(receipt["received_at"][:10]))
        outcomes: dict[str, list[int]] = {}
        for code in (known, unknown):
            statuses = []
            for guess in range(11):
                # Every guess from another address: the per-IP limit is not what stops it.
                response = await client.get(
                    f"/v1/dossiers/{code}/status",
                    headers=from_ip() | {"X-Applicant-Phone": f"09120000{guess:02d}"},
                )
                statuses.append(response.status_code)
            outcomes[code] = statuses
        # The right secret still opens the dossier: the lock is on phone guesses only.
        by_secret = await client.get(
            f"/v1/dossiers/{known}/status",
            headers=from_ip() | {"X-Follow-Up-Secret": receipt["follow_up_secret"]},
        )
    assert outcomes[known] == outcomes[unknown] == [404] * 10 + [429]
    assert by_secret.status_code == 200
