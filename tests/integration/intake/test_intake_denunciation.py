"""A denouncer's identity stays sealed inside intake: absent from every Kafka record,
log line and span; resolvable only by an officer of the handling agency with clearance."""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx
import pytest

from chassis.events import Topics
from tests.integration.intake.intake_bodies import denunciation
from tests.integration.intake.intake_support import Intake, all_topics, events_of, read_topic
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

SYLLABLES = ["Mai", "Lan", "Cúc", "Đào", "Huệ", "Thư", "Yến", "Quỳnh", "Trâm", "Ngân"]


def forms_of(value: str) -> list[bytes]:
    """How a value could appear in raw bytes: UTF-8 as is, or JSON-escaped."""
    return list({value.encode(), json.dumps(value).strip('"').encode()})


async def everything_on_the_topics(intake: Intake) -> list[bytes]:
    raw = []
    for topic in all_topics(intake.prefix):
        for record in await read_topic(intake.kafka, topic):
            raw.append(record.value or b"")
            raw.append(record.key or b"")
            raw.extend(value for _, value in record.headers or ())
    return raw


async def test_denouncer_identity_never_leaves_intake(intake_service: Intake) -> None:
    name = "Quách Thị " + " ".join(secrets.choice(SYLLABLES) for _ in range(2))
    id_number = "0" + "".join(secrets.choice("0123456789") for _ in range(11))
    phone_digits = "0912" + "".join(secrets.choice("0123456789") for _ in range(6))
    body = denunciation(name, id_number, phone_digits)
    email = body["applicant"]["email"]
    secrets_of_the_denouncer = [name, id_number, phone_digits[1:], email, "phố Huế"]

    inspector = intake_service.officer("STNMT-TTR")
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=15) as client:
        online = await client.post(
            "/v1/dossiers",
            json=denunciation(name, id_number, phone_digits, channel="online"),
            headers=intake_service.portal(),
        )
        # Partly online since Decree 42/2022's levels: lodged online, sealed the same way.
        assert online.status_code == 202, online.text
        for value in secrets_of_the_denouncer[:3]:
            assert value not in online.text

        response = await client.post("/v1/dossiers", json=body, headers=inspector)
        assert response.status_code == 202, response.text
        receipt = response.json()
        for value in secrets_of_the_denouncer:
            assert value not in response.text

        # The denouncer can follow the dossier like anyone else.
        status = await client.get(
            receipt["status_url"],
            headers={"X-Applicant-Phone": phone_digits, "X-Forwarded-For": "192.0.2.44"},
        )
        assert status.status_code == 200, status.text

        records = await read_topic(intake_service.kafka, intake_service.topic(Topics.SUBMISSIONS))
        [event] = [
            e
            for e in events_of(records, "dossier.submitted.v1")
            if e["subject"] == receipt["dossier_id"]
        ]
        applicant = event["data"]["applicant"]
        pseudonym = applicant["pseudonym"]
        assert pseudonym.startswith("den-")
        assert applicant["portal_account"] == "acct-7f3a"
        for field in ("name", "id_number", "phone", "email", "address"):
            assert applicant[field] is None
        assert event["data"]["kind"] == "denunciation"
        assert (
            event["data"]["form"]["violation_description"] == body["form"]["violation_description"]
        )

        path = f"/v1/identities/{pseudonym}"
        without_clearance = await client.get(path, headers=inspector)
        assert without_clearance.status_code == 403
        portal = await client.get(path, headers=intake_service.portal())
        assert portal.status_code == 403
        other_agency = await client.get(
            path, headers=intake_service.officer("STNMT-MT", "identity:resolve")
        )
        assert other_agency.status_code == 404
        unknown = await client.get(
            "/v1/identities/den-00000000000000000000",
            headers=intake_service.officer("STNMT-TTR", "identity:resolve"),
        )
        assert unknown.status_code == 404

        chief = intake_service.officer("STNMT-TTR", "identity:resolve", role="leader")
        resolved = await client.get(path, headers=chief)
        assert resolved.status_code == 200, resolved.text
        identity = resolved.json()
        assert identity["name"] == name
        assert identity["id_number"] == id_number
        assert identity["phone"] == "+84" + phone_digits[1:]
        assert identity["email"] == email
        assert identity["dossier_id"] == receipt["dossier_id"]

    async def resolution() -> list[dict[str, Any]]:
        found = await read_topic(intake_service.kafka, intake_service.topic(Topics.SUBMISSIONS))
        return [
            e
            for e in events_of(found, "dossier.identity-resolved.v1")
            if e["data"]["pseudonym"] == pseudonym
        ]

    [resolved_event] = await eventually(resolution, timeout_s=20, what="identity-resolved")
    assert resolved_event["actor"].startswith("officer:")
    assert resolved_event["subject"] == receipt["dossier_id"]

    raw_records = await everything_on_the_topics(intake_service)
    assert len(raw_records) > 3
    log_text = intake_service.process.log_path.read_bytes()
    assert b"resolved by officer:" in log_text

    async def spans_written() -> bytes | None:
        text = intake_service.spans_file.read_bytes() if intake_service.spans_file.exists() else b""
        return text if b"/v1/identities/" in text else None

    spans = await eventually(spans_written, timeout_s=20, what="spans of the resolution")
    for value in secrets_of_the_denouncer:
        for form in forms_of(value):
            assert not any(form in raw for raw in raw_records), f"{value!r} on a topic"
            assert form not in log_text, f"{value!r} in the log"
            assert form not in spans, f"{value!r} in a span"
