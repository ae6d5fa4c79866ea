"""The four services as processes for the fuzzing and permission tests, seeded with one
dossier of each kind those tests need real identifiers of.

Each area gets its own topic prefix and databases (``<run_id>_<area>``), so what the
fuzzer sends never disturbs the permission matrix, nor either of them anybody else.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from tests.support.documents import (
    attachment_for,
    catalogue_document_codes,
    sample_pdf,
    upload_samples,
)
from tests.support.mail import MailSink
from tests.support.services import SERVICES, ServiceProcess, service_env
from tests.support.tokens import bearer
from tests.support.waiting import eventually

# The agency whose officers the tests are (A) and one that is not theirs (B).
AGENCY_A = "STNMT-MT"
AGENCY_B = "STNMT-VPDK"
# Denunciations are received by the inspectorate, at the counter only.
INSPECTORATE = "STNMT-TTR"


@dataclass
class RunningPlatform:
    services: dict[str, ServiceProcess]
    mail: MailSink
    jwt_secret: str
    log_dir: Path
    kafka: str
    topic_prefix: str
    databases: dict[str, str]

    def url(self, name: str) -> str:
        return self.services[name].url

    def token(
        self, subject: str, *roles: str, agency: str | None = None, scopes: tuple[str, ...] = ()
    ) -> dict[str, str]:
        return bearer(self.jwt_secret, subject, *roles, agency=agency, scopes=scopes)


@contextmanager
def running_platform(
    base_env: dict[str, str],
    run_id: str,
    signing_key: str,
    area: str,
    work: Path,
    extra_env: dict[str, str] | None = None,
) -> Iterator[RunningPlatform]:
    mail = MailSink()
    mail.start()
    prefix = f"{run_id}-{area}."
    extra = {
        "KAFKA_TOPIC_PREFIX": prefix,
        "NOTIFICATION_SMTP_HOST": "127.0.0.1",
        "NOTIFICATION_SMTP_PORT": str(mail.port),
        "INTAKE_IDENTITY_KEY": Fernet.generate_key().decode(),
        "AUDIT_PII_KEY": Fernet.generate_key().decode(),
        # A checkpoint soon after the first entries, so proofs have something to prove.
        "AUDIT_CHECKPOINT_INTERVAL_S": "1",
        **(extra_env or {}),
    }
    processes = {
        name: ServiceProcess(
            name, service_env(base_env, f"{run_id}_{area}", name, extra), work / f"{name}.log"
        )
        for name in SERVICES
    }
    for process in processes.values():
        process.start()
    try:
        for process in processes.values():
            process.wait_ready()
        # The attachments the seeding submits name these files (tests.support.documents).
        upload_samples(
            processes["intake"].url,
            lambda code: bearer(signing_key, f"samples-{code}", "portal"),
            catalogue_document_codes(),
        )
        databases = {
            name: p.env[f"{name.upper()}_MONGODB_DATABASE"] for name, p in processes.items()
        }
        yield RunningPlatform(
            processes,
            mail,
            signing_key,
            work,
            base_env["KAFKA_BOOTSTRAP_SERVERS"],
            prefix,
            databases,
        )
    finally:
        for process in processes.values():
            process.stop()
        mail.stop()


# --------------------------------------------------------------------------- seeding


def attachment(code: str) -> dict[str, Any]:
    """The code's sample PDF, which `running_platform` uploaded."""
    return attachment_for(code)


def waste_registration(email: str) -> dict[str, Any]:
    """MT-004 with every mandatory document: the automatic check receives it."""
    return {
        "procedure_code": "MT-004",
        "channel": "online",
        "applicant": {
            "type": "person",
            "name": "Trần Thị Bình",
            "id_number": "001199012345",
            "email": email,
            "phone": "0912345678",
        },
        "form": {
            "facility_name": "Xưởng in Bình Minh",
            "facility_address": "Số 5 Láng Hạ, Đống Đa, Hà Nội",
            "waste_items": [
                {
                    "waste_code": "08 02 01",
                    "name": "Mực in thải",
                    "state": "liquid",
                    "quantity_kg_per_year": 40,
                }
            ],
        },
        "attachments": [attachment("application_form"), attachment("business_registration")],
    }


def denunciation(email: str) -> dict[str, Any]:
    """TC-001 keyed at the inspectorate's counter: the denouncer becomes a pseudonym."""
    return {
        "procedure_code": "TC-001",
        "channel": "counter",
        "applicant": {
            "type": "person",
            "name": "Phạm Văn Cường",
            "id_number": "001088054321",
            "email": email,
            "address": "Số 9 Hàng Bài, Hoàn Kiếm, Hà Nội",
        },
        "form": {
            "denounced_person_name": "Nguyễn Văn X",
            "denounced_unit": "Phòng Tài nguyên nước",
            "violation_description": "Nhận tiền để bỏ qua vi phạm xả thải.",
        },
        "content": "Đề nghị thanh tra làm rõ.",
        "attachments": [attachment("denunciation_letter")],
    }


@dataclass
class Receipt:
    dossier_id: str
    receipt_code: str
    follow_up_secret: str


@dataclass
class Seeded:
    received: Receipt  # agency A, status received
    finished: Receipt  # agency A, status result_returned
    pseudonym: str
    denunciation_id: str
    delivery_id: str
    checkpoint_size: int
    # The received dossier's application form, as intake stores it.
    document_id: str


async def submit(
    client: httpx.AsyncClient,
    platform: RunningPlatform,
    body: dict[str, Any],
    headers: dict[str, str],
) -> Receipt:
    response = await client.post(
        f"{platform.url('intake')}/v1/dossiers", json=body, headers=headers
    )
    assert response.status_code == 202, response.text
    answer = response.json()
    return Receipt(answer["dossier_id"], answer["receipt_code"], answer["follow_up_secret"])


async def officer_view(
    client: httpx.AsyncClient, platform: RunningPlatform, dossier_id: str, agency: str
) -> dict[str, Any] | None:
    response = await client.get(
        f"{platform.url('processing')}/v1/officer/dossiers/{dossier_id}",
        headers=platform.token("seed-officer", "officer", agency=agency),
    )
    return dict(response.json()) if response.status_code == 200 else None


async def seed(platform: RunningPlatform) -> Seeded:
    """One dossier received, one carried to its end, one denunciation, one delivery."""

    async with httpx.AsyncClient(timeout=30) as client:
        portal = platform.token("seed-portal", "portal")
        received = await submit(
            client, platform, waste_registration("seed.received@example.vn"), portal
        )
        finished = await submit(
            client, platform, waste_registration("seed.finished@example.vn"), portal
        )
        inspector = platform.token("seed-inspector", "officer", agency=INSPECTORATE)
        reported = await submit(
            client, platform, denunciation("seed.denouncer@example.vn"), inspector
        )

        for receipt in (received, finished):

            async def arrived(receipt: Receipt = receipt) -> dict[str, Any] | None:
                return await officer_view(client, platform, receipt.dossier_id, AGENCY_A)

            await eventually(arrived, what=f"dossier {receipt.dossier_id} in processing")

        await _decide(client, platform, finished.dossier_id)

        async def pseudonym() -> str | None:
            view = await officer_view(client, platform, reported.dossier_id, INSPECTORATE)
            return view["applicant"]["pseudonym"] if view else None

        alias = await eventually(pseudonym, what="the denunciation in processing")

        async def settled() -> bool:
            status = await client.get(
                f"{platform.url('intake')}/v1/dossiers/{finished.receipt_code}/status",
                headers={"X-Follow-Up-Secret": finished.follow_up_secret},
            )
            return status.status_code == 200 and status.json()["status"] == "result_returned"

        await eventually(settled, what="intake's look-up showing result_returned", every_s=2.5)

        operator = platform.token("seed-operator", "operator")

        async def delivery() -> str | None:
            response = await client.get(
                f"{platform.url('notification')}/v1/deliveries",
                params={"dossier_id": received.dossier_id},
                headers=operator,
            )
            items = response.json()["items"] if response.status_code == 200 else []
            return items[0]["id"] if items else None

        delivery_id = await eventually(delivery, what="a notification delivery")

        auditor = platform.token("seed-auditor", "auditor")

        async def checkpoint() -> int | None:
            response = await client.get(
                f"{platform.url('audit')}/v1/audit/checkpoints/latest", headers=auditor
            )
            return int(response.json()["tree_size"]) if response.status_code == 200 else None

        size = await eventually(checkpoint, what="an audit checkpoint")
        # Uploading the same bytes again answers the stored document's id.
        stored = await client.post(
            f"{platform.url('intake')}/v1/documents",
            params={"name": "application_form.pdf"},
            content=sample_pdf("hoso sample: application_form"),
            headers=portal | {"Content-Type": "application/pdf"},
        )
        assert stored.status_code == 200, stored.text
        document_id = str(stored.json()["document_id"])
    return Seeded(received, finished, alias, reported.dossier_id, delivery_id, size, document_id)


async def _decide(client: httpx.AsyncClient, platform: RunningPlatform, dossier_id: str) -> None:
    """start_review → approve → return_result as an officer of agency A."""
    officer = platform.token("seed-officer", "officer", agency=AGENCY_A)
    url = f"{platform.url('processing')}/v1/officer/dossiers/{dossier_id}/actions"
    view = await officer_view(client, platform, dossier_id, AGENCY_A)
    assert view is not None
    steps = [
        {"action": "start_review"},
        {"action": "approve", "result_reference": "123/QĐ-STNMT"},
        {"action": "return_result"},
    ]
    for body in steps:
        if body["action"] == "return_result":
            # Handed over with the signed result document intake issues on approval.
            async def issued() -> dict[str, Any] | None:
                found = await officer_view(client, platform, dossier_id, AGENCY_A)
                return found if found and found.get("result_document") else None

            view = await eventually(issued, timeout_s=60, what="the result document issued")
        response = await client.post(
            url, json=body, headers=officer | {"If-Match": f'"{view["version"]}"'}
        )
        assert response.status_code == 200, response.text
        view = response.json()
