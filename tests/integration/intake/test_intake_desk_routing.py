"""The one-stop desk on the real stack: an intake process and a processing process on
their own topics and databases. The desk keys another unit's procedure and the dossier
lands in that unit's queue; a partly online procedure is lodged online; the hotline
keys a petition by phone; the receipt-and-appointment slip is a PDF whose text reads in
Vietnamese and whose QR code decodes to the follow-up page of the dossier."""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pypdf
import pypdfium2
import pytest
import zxingcpp
from cryptography.fernet import Fernet

from chassis.catalogue import load_default_catalogue
from tests.integration.intake.intake_bodies import (
    land_change_at_counter,
    petition,
    unique_email,
)
from tests.integration.processing.processing_harness import processing_process
from tests.support.documents import upload_samples
from tests.support.infra import Infra
from tests.support.services import ServiceProcess, service_env
from tests.support.tokens import bearer
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

NAME = "desk-routing"
FOLLOW_UP_URL = "https://dichvucong.example.vn/tra-cuu?ma={receipt_code}"


@dataclass(frozen=True)
class Stack:
    intake: ServiceProcess
    processing: ServiceProcess
    jwt_secret: str

    def token(self, role: str, agency: str | None = None) -> dict[str, str]:
        return bearer(self.jwt_secret, f"{role}-{secrets.token_hex(3)}", role, agency=agency)


@pytest.fixture(scope="module")
def stack(
    base_env: dict[str, str],
    run_id: str,
    infra: Infra,
    jwt_secret: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp(NAME)
    processing = processing_process(base_env, run_id, NAME, work)
    intake = ServiceProcess(
        "intake",
        service_env(
            base_env,
            run_id,
            "intake",
            {
                # The same topics as the processing process: the pipeline of one department.
                "KAFKA_TOPIC_PREFIX": f"{run_id}-{NAME}.",
                "INTAKE_MONGODB_DATABASE": f"{run_id}_{NAME}_intake".replace("-", "_"),
                "INTAKE_IDENTITY_KEY": Fernet.generate_key().decode(),
                "INTAKE_FOLLOW_UP_URL": FOLLOW_UP_URL,
            },
        ),
        work / "intake.log",
    )
    processing.start()
    intake.start()
    try:
        processing.wait_ready()
        intake.wait_ready()
        stack = Stack(intake, processing, jwt_secret)
        # The attachments of land_change_at_counter name this uploaded file.
        upload_samples(intake.url, lambda _: stack.token("portal"), ["change_application_form"])
        yield stack
    finally:
        intake.stop()
        processing.stop()


async def in_queue(stack: Stack, agency: str, receipt_code: str) -> dict[str, Any] | None:
    """The dossier in ``agency``'s queue at processing, once it got there."""
    async with httpx.AsyncClient(base_url=stack.processing.url, timeout=10) as client:
        response = await client.get(
            "/v1/officer/queue",
            params={"sort": "received", "limit": 100},
            headers=stack.token("officer", agency),
        )
    assert response.status_code == 200, response.text
    found = [item for item in response.json()["items"] if item["receipt_code"] == receipt_code]
    return found[0] if found else None


async def lodge(stack: Stack, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.intake.url, timeout=15) as client:
        response = await client.post("/v1/dossiers", json=body, headers=headers)
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_the_desk_keys_another_units_dossier_and_it_reaches_that_units_queue(
    stack: Stack,
) -> None:
    """Desk routing (Decree 61/2018/NĐ-CP, Art. 15-16; Decree 118/2025/NĐ-CP): received
    by the one-stop desk of STNMT-VP, settled by the land registration office."""
    body = land_change_at_counter()
    receipt = await lodge(stack, body, stack.token("desk", "STNMT-VP"))
    code = receipt["receipt_code"]
    assert code.startswith("DK-")

    item = await eventually(
        lambda: in_queue(stack, "STNMT-VPDK", code), what=f"{code} in STNMT-VPDK's queue"
    )
    assert item["procedure_code"] == "DD-002"
    # The desk's own unit does not get it: it only received it.
    assert await in_queue(stack, "STNMT-VP", code) is None

    # An officer of another unit still may not key it.
    async with httpx.AsyncClient(base_url=stack.intake.url, timeout=15) as client:
        response = await client.post(
            "/v1/dossiers", json=body, headers=stack.token("officer", "STNMT-MT")
        )
    assert response.status_code == 403


async def test_a_partly_online_procedure_is_lodged_online(stack: Stack) -> None:
    body = land_change_at_counter() | {"channel": "online"}
    body["applicant"] = body["applicant"] | {"email": unique_email("online")}
    receipt = await lodge(stack, body, stack.token("portal"))
    code = receipt["receipt_code"]
    item = await eventually(
        lambda: in_queue(stack, "STNMT-VPDK", code), what=f"{code} in STNMT-VPDK's queue"
    )
    assert item["procedure_code"] == "DD-002"


async def test_the_hotline_keys_a_petition_taken_by_phone(stack: Stack) -> None:
    body = petition()
    body["channel"] = "phone"
    body["applicant"] = {k: v for k, v in body["applicant"].items() if k != "email"} | {
        "phone": "0987 654 321"
    }
    receipt = await lodge(stack, body, stack.token("hotline", "STNMT-VP"))
    code = receipt["receipt_code"]
    await eventually(lambda: in_queue(stack, "STNMT-VP", code), what=f"{code} in the queue")

    # The caller follows it up with the receipt code and his number.
    async with httpx.AsyncClient(base_url=stack.intake.url, timeout=15) as client:
        status = await client.get(
            receipt["status_url"], headers={"X-Applicant-Phone": "0987654321"}
        )
    assert status.status_code == 200, status.text
    log = log_of(stack)
    assert "987654321" not in log
    assert "987 654 321" not in log


def log_of(stack: Stack) -> str:
    return Path(stack.intake.log_path).read_text(errors="replace")


def qr_codes(pdf: bytes) -> list[str]:
    page = pypdfium2.PdfDocument(pdf)[0]
    image = page.render(scale=3).to_pil()
    return [barcode.text for barcode in zxingcpp.read_barcodes(image)]


async def test_the_slip_is_a_pdf_with_the_receipt_code_as_text_and_as_a_qr_code(
    stack: Stack,
) -> None:
    body = land_change_at_counter()
    applicant = "Hoàng Minh Đức"
    assert body["applicant"]["name"] == applicant
    desk = stack.token("desk", "STNMT-VP")
    receipt = await lodge(stack, body, desk)
    code = receipt["receipt_code"]
    url = f"/v1/dossiers/{code}/slip.pdf"

    async with httpx.AsyncClient(base_url=stack.intake.url, timeout=15) as client:
        response = await client.get(url, headers=desk)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/pdf"
        assert response.headers["cache-control"] == "no-store"
        pdf = response.content

        # The unit that settles it prints it too; another unit, a portal, the hotline not.
        unit = await client.get(url, headers=stack.token("officer", "STNMT-VPDK"))
        assert unit.status_code == 200
        for headers, status in (
            (stack.token("officer", "STNMT-MT"), 404),
            (stack.token("hotline", "STNMT-VP"), 403),
            (stack.token("portal"), 403),
            ({}, 401),
        ):
            refused = await client.get(url, headers=headers)
            assert refused.status_code == status, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")

    assert pdf.startswith(b"%PDF-")
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    for words in (
        load_default_catalogue().department.name_vi.upper(),
        "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
        f"Mã hồ sơ: {code}",
        applicant,
        "Văn phòng Đăng ký đất đai",
        "Đăng ký biến động",
        "Thời gian hẹn trả kết quả",
    ):
        assert words in text, words
    due = receipt["due_date"]
    assert f"{due[8:10]}/{due[5:7]}/{due[0:4]}" in text
    assert receipt["follow_up_secret"] not in text
    assert body["applicant"]["id_number"] not in text

    assert qr_codes(pdf) == [FOLLOW_UP_URL.format(receipt_code=code)]
    # The paper is the applicant's: neither it nor his name is written to the log.
    assert applicant not in log_of(stack)
