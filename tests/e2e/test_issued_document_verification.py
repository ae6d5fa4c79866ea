"""An approved dossier's result, issued and signed by intake through the real path
(processing's approval → intake signs and announces it → audit records it), is verified
by anyone: the audit endpoint and the offline command accept it with an inclusion proof,
and refuse a copy changed by one byte."""

from __future__ import annotations

import asyncio
import hashlib
import io
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from audit.cli import main as audit_cli
from deploy.launcher.pki import TestPki
from tests.support.documents import attachment_for
from tests.support.tokens import bearer
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

AGENCY = "STNMT-MT"


def _submission() -> dict[str, Any]:
    """Registration as a hazardous-waste source owner (MT-004), fully online, with every
    mandatory document (the samples the platform uploaded): the automatic check receives
    it."""
    return {
        "procedure_code": "MT-004",
        "channel": "online",
        "applicant": {
            "type": "person",
            "name": "Trần Thị Bình",
            "id_number": "001099054321",
            "email": f"binh.{secrets.token_hex(3)}@example.vn",
        },
        "form": {
            "facility_name": "Xưởng in Bình Minh",
            "facility_address": "Khu công nghiệp Quang Minh, Mê Linh, Hà Nội",
            "waste_items": [
                {
                    "waste_code": "08 02 01",
                    "name": "Mực in thải",
                    "state": "liquid",
                    "quantity_kg_per_year": 120,
                }
            ],
        },
        "attachments": [
            attachment_for("application_form"),
            attachment_for("business_registration"),
        ],
    }


async def test_an_issued_result_is_proved_to_anyone(
    platform: Any, jwt_secret: str, document_pki: TestPki, tmp_path: Path
) -> None:
    portal = bearer(jwt_secret, "portal-client-1", "portal")
    officer = bearer(jwt_secret, "officer-docs", "officer", agency=AGENCY)
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{platform.url('intake')}/v1/dossiers", json=_submission(), headers=portal
        )
        assert response.status_code == 202, response.text
        receipt = response.json()
        dossier_url = f"{platform.url('processing')}/v1/officer/dossiers/{receipt['dossier_id']}"

        async def view(issued: bool = False) -> dict[str, Any] | None:
            found = await client.get(dossier_url, headers=officer)
            if found.status_code != 200:
                return None
            body: dict[str, Any] = found.json()
            if issued:
                return body if body.get("result_document") else None
            return body if body.get("status") == "received" else None

        current = await eventually(view, what="the dossier received at processing")
        approve = {"action": "approve", "result_reference": f"{secrets.token_hex(3)}/QĐ-STNMT"}
        for step in ({"action": "start_review"}, approve):
            answer = await client.post(
                f"{dossier_url}/actions",
                json=step,
                headers=officer | {"If-Match": f'"{current["version"]}"'},
            )
            assert answer.status_code == 200, answer.text
            current = answer.json()
        issued = await eventually(lambda: view(issued=True), what="the result document issued")
        result = issued["result_document"]

        # The signed PDF as the citizen downloads it, with the receipt's follow-up secret.
        download = await client.get(
            f"{platform.url('intake')}/v1/dossiers/{receipt['receipt_code']}"
            f"/documents/{result['document_id']}",
            headers={"X-Follow-Up-Secret": receipt["follow_up_secret"]},
        )
        assert download.status_code == 200, download.text
        document = download.content
        assert hashlib.sha256(document).hexdigest() == result["sha256"]

        verify = f"{platform.url('audit')}/v1/documents/verify"
        pdf = {"Content-Type": "application/pdf"}

        async def proven() -> dict[str, Any] | None:
            answer = await client.post(verify, content=document, headers=pdf)
            assert answer.status_code == 200, answer.text
            verdict: dict[str, Any] = answer.json()
            return verdict if verdict["proof_status"] == "proven" else None

        verdict = await eventually(proven, what="the issue recorded and checkpointed")
        assert verdict["signature"]["valid"] is True
        assert verdict["signature"]["trusted"] is True, verdict["signature"]
        assert verdict["issued"] is True
        assert verdict["entry"]["type"] == "dossier.result-issued.v1"
        assert verdict["entry"]["receipt_code"] == receipt["receipt_code"]
        assert verdict["entry"]["decision_number"] == approve["result_reference"]
        assert verdict["inclusion_proof"]["entry"]["payload"]["sha256"] == result["sha256"]

        changed = bytearray(document)
        changed[len(changed) // 3] ^= 0x01
        altered = await client.post(verify, content=bytes(changed), headers=pdf)
        assert altered.status_code == 200, altered.text
        assert altered.json()["signature"]["valid"] is False
        assert altered.json()["issued"] is False

        key = tmp_path / "audit.pub.pem"
        key.write_text((await client.get(f"{platform.url('audit')}/v1/audit/public-key.pem")).text)
    original = tmp_path / "ket-qua.pdf"
    original.write_bytes(document)
    out, err = io.StringIO(), io.StringIO()
    arguments = [
        "verify-document",
        str(original),
        "--url",
        platform.url("audit"),
        "--trust-roots",
        str(document_pki.ca_pem),
        "--public-key",
        str(key),
    ]
    status = await asyncio.to_thread(audit_cli, arguments, out, err)
    assert status == 0, out.getvalue() + err.getvalue()
    assert "VALID AND ISSUED" in out.getvalue()
