"""Documents across the running services: an officer's read of a dossier's document is
in the audit log, listed for the dossier by type; an approval's signed result is issued
by intake, recorded by processing, handed over with its SHA-256 in the result_returned
status change (so in the audit log), and downloaded by the citizen."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import httpx
import pytest

from tests.support.documents import attachment_for
from tests.support.tokens import bearer
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

AGENCY = "STNMT-MT"


def registration(email: str) -> dict[str, Any]:
    return {
        "procedure_code": "MT-004",
        "channel": "online",
        "applicant": {
            "type": "person",
            "name": "Trần Văn Bình",
            "id_number": "001099054321",
            "email": email,
        },
        "form": {
            "facility_name": "Xưởng in Bình Minh",
            "facility_address": "Phường Yên Nghĩa, Hà Đông, Hà Nội",
            "waste_items": [
                {
                    "waste_code": "08 02 01",
                    "name": "Mực in thải",
                    "state": "liquid",
                    "quantity_kg_per_year": 50,
                }
            ],
        },
        # The samples the platform fixture uploaded.
        "attachments": [
            attachment_for("application_form"),
            attachment_for("business_registration"),
        ],
    }


async def test_reads_are_audited_and_the_signed_result_reaches_the_citizen(
    platform: Any, jwt_secret: str
) -> None:
    portal = bearer(jwt_secret, "portal-documents", "portal")
    officer = bearer(jwt_secret, "officer-documents", "officer", agency=AGENCY)
    auditor = bearer(jwt_secret, "auditor-documents", "auditor")
    intake, processing, audit = (platform.url(n) for n in ("intake", "processing", "audit"))
    async with httpx.AsyncClient(timeout=30) as client:
        receipt = await client.post(
            f"{intake}/v1/dossiers",
            json=registration(f"binh.{secrets.token_hex(3)}@example.vn"),
            headers=portal,
        )
        assert receipt.status_code == 202, receipt.text
        dossier_id = receipt.json()["dossier_id"]
        code = receipt.json()["receipt_code"]

        async def received() -> dict[str, Any] | None:
            view = await client.get(
                f"{processing}/v1/officer/dossiers/{dossier_id}", headers=officer
            )
            return dict(view.json()) if view.status_code == 200 else None

        view = await eventually(received, what="the dossier in processing")
        document_id = view["attachments"][0]["document_id"]
        read = await client.get(
            f"{intake}/v1/officer/dossiers/{code}/documents/{document_id}", headers=officer
        )
        assert read.status_code == 200

        async def audited(event_type: str) -> list[dict[str, Any]] | None:
            answer = await client.get(
                f"{audit}/v1/audit/entries",
                params={"dossier_id": dossier_id, "event_type": event_type},
                headers=auditor,
            )
            assert answer.status_code == 200, answer.text
            return answer.json()["entries"] or None

        (entry,) = await eventually(
            lambda: audited("dossier.document-read.v1"), what="the read in the audit log"
        )
        assert entry["actor"] == "officer:officer-documents"

        # Review, approve: intake issues the signed result, processing records it.
        version = view["version"]
        for body in (
            {"action": "start_review"},
            {"action": "approve", "result_reference": "15/GP-STNMT"},
        ):
            acted = await client.post(
                f"{processing}/v1/officer/dossiers/{dossier_id}/actions",
                json=body,
                headers=officer | {"If-Match": f'"{version}"'},
            )
            assert acted.status_code == 200, acted.text
            version = acted.json()["version"]

        async def issued() -> dict[str, Any] | None:
            found = await received()
            return found["result_document"] if found and found["result_document"] else None

        result = await eventually(issued, timeout_s=60, what="the result document recorded")
        returned = await client.post(
            f"{processing}/v1/officer/dossiers/{dossier_id}/actions",
            json={"action": "return_result"},
            headers=officer | {"If-Match": f'"{version}"'},
        )
        assert returned.status_code == 200, returned.text

        entries = await eventually(
            lambda: audited("dossier.status-changed.v1"), what="the status changes audited"
        )

        async def handed_over() -> dict[str, Any] | None:
            found = await audited("dossier.status-changed.v1")
            for item in found or []:
                if item["payload"].get("new_status") == "result_returned":
                    return dict(item)
            return None

        handed = await eventually(handed_over, what="result_returned in the audit log")
        assert handed["payload"]["result_sha256"] == result["sha256"]
        assert entries

        pdf = await client.get(
            f"{intake}/v1/dossiers/{code}/documents/{result['document_id']}",
            headers={"X-Follow-Up-Secret": receipt.json()["follow_up_secret"]},
        )
        assert pdf.status_code == 200
        assert hashlib.sha256(pdf.content).hexdigest() == result["sha256"]
