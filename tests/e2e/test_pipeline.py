"""A dossier's whole journey through the four running services, each running as
several replicas: submissions go to the intake replicas in turn and the audit trail is
read through either audit replica."""

from __future__ import annotations

import itertools
import secrets
from typing import Any

import httpx
import pytest

from tests.e2e.trails import by_occurrence, in_order
from tests.support.tokens import bearer
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e


def _submission(email: str) -> dict[str, Any]:
    """Registration as a hazardous-waste source owner (MT-004), fully online."""
    return {
        "procedure_code": "MT-004",
        "channel": "online",
        "applicant": {
            "type": "person",
            "name": "Nguyễn Văn An",
            "id_number": "001099012345",
            "email": email,
        },
        "form": {
            "facility_name": "Xưởng cơ khí An Phát",
            "facility_address": "Cụm công nghiệp Phú Lãm, Hà Đông, Hà Nội",
            "waste_items": [
                {
                    "waste_code": "17 02 03",
                    "name": "Dầu thải",
                    "state": "liquid",
                    "quantity_kg_per_year": 300,
                }
            ],
        },
    }


async def test_dossier_flows_through_every_service(platform, jwt_secret: str) -> None:
    portal = bearer(jwt_secret, "portal-client-1", "portal")
    auditor = bearer(jwt_secret, "auditor-1", "auditor")
    trace_ids: dict[str, str] = {}
    # Which intake replica each trace was started at.
    served_by: dict[str, str] = {}
    accepted: dict[str, dict[str, Any]] = {}
    intakes = platform.replicas["intake"]
    audit_turns = itertools.count()
    async with httpx.AsyncClient(timeout=10) as client:
        for n in range(max(3, len(intakes))):
            address = f"citizen{n}.{secrets.token_hex(3)}@example.vn"
            trace_id = secrets.token_hex(16)
            headers = portal | {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
            intake = intakes[n % len(intakes)]
            response = await client.post(
                f"{intake.url}/v1/dossiers", json=_submission(address), headers=headers
            )
            assert response.status_code == 202, response.text
            body = response.json()
            accepted[address] = body
            trace_ids[body["dossier_id"]] = trace_id
            served_by[trace_id] = intake.instance

        for address, body in accepted.items():

            async def mail_for(address: str = address) -> list[Any]:
                return platform.mail.to(address)

            messages = await eventually(mail_for, what=f"mail to {address}")
            assert len(messages) == 1
            assert body["receipt_code"] in messages[0]["Subject"]

            async def trail(body: dict[str, Any] = body) -> list[dict[str, Any]] | None:
                audit = platform.url_of("audit", next(audit_turns))
                response = await client.get(
                    f"{audit}/v1/audit/dossiers/{body['dossier_id']}", headers=auditor
                )
                assert response.status_code == 200, response.text
                entries = response.json()["entries"]
                return entries if len(entries) >= 3 else None

            entries = await eventually(trail, what="three audit entries")
            types = by_occurrence(entries)
            assert types == [
                "dossier.submitted.v1",
                "dossier.status-changed.v1",
                "notification.sent.v1",
            ], in_order(entries)
            assert len({e["event_id"] for e in entries}) == len(entries)

    def served_at(spans: list[dict[str, Any]], trace_id: str) -> set[str]:
        """The replicas that answered the request starting ``trace_id``."""
        return {
            s["instance"]
            for s in spans
            if s["trace_id"] == trace_id and s["service"] == "intake" and s["kind"] == "SERVER"
        }

    async def spans_of_all_services() -> list[dict[str, Any]] | None:
        spans = platform.spans()
        services_by_trace: dict[str, set[str]] = {}
        for span in spans:
            services_by_trace.setdefault(span["trace_id"], set()).add(span["service"])
        wanted = {"intake", "processing", "notification", "audit"}
        whole = all(services_by_trace.get(t, set()) >= wanted for t in trace_ids.values())
        # The request's span ends after its answer, so it may be exported last.
        answered = all(served_at(spans, t) for t in trace_ids.values())
        return spans if whole and answered else None

    spans = await eventually(spans_of_all_services, what="spans of all four services in each trace")
    # Each trace starts at the intake replica its request was sent to, and every intake
    # replica took part: the replicas are distinct processes, each serving.
    for trace_id, instance in served_by.items():
        assert served_at(spans, trace_id) == {instance}, trace_id
    assert set(served_by.values()) == {p.instance for p in intakes}


async def test_malformed_submission_is_a_problem_and_publishes_nothing(
    platform, jwt_secret: str
) -> None:
    portal = bearer(jwt_secret, "portal-client-1", "portal")
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            f"{platform.url('intake')}/v1/dossiers",
            json={"procedure_code": "MT-01", "applicant": {"name": "A", "email": "not-an-email"}},
            headers=portal,
        )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 422
    assert any(e["pointer"] == "/applicant/email" for e in problem["errors"])
