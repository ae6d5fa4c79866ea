"""Documents under kill -9: an upload cut short leaves nothing anyone can list or read
(and the sweep takes its chunks), and approvals whose issuing is cut short each end with
exactly one signed, stored, announced result once intake is back."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from chassis.events import EventType, Recipient, Topics
from chassis.mongo import StoreClient, StoreDatabase
from intake.adapters.gridfs import DocumentFiles
from tests.integration.intake.intake_bodies import waste_registration
from tests.integration.intake.intake_support import Intake, events_of, read_topic, status_changed
from tests.support.documents import catalogue_document_codes, sample_pdf, upload_samples
from tests.support.infra import Infra
from tests.support.services import ServiceProcess, service_env
from tests.support.waiting import eventually

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(300)]

APPROVALS = 6


@pytest.fixture
def intake_under_fire(
    base_env: dict[str, str], run_id: str, infra: Infra, jwt_secret: str, tmp_path: Path
) -> Iterator[tuple[Intake, dict[str, str]]]:
    tag = secrets.token_hex(3)
    prefix = f"{run_id}-docs-chaos-{tag}."
    database = f"{run_id}_docs_chaos_{tag}"
    env = service_env(
        base_env,
        run_id,
        "intake",
        {"KAFKA_TOPIC_PREFIX": prefix, "INTAKE_MONGODB_DATABASE": database},
    )
    process = ServiceProcess("intake", env, tmp_path / "intake.log")
    process.start()
    try:
        process.wait_ready()
        yield (
            Intake(process, prefix, database, infra.kafka, infra.mongodb, jwt_secret, tmp_path),
            env,
        )
    finally:
        process.stop()


def restarted(intake: Intake, env: dict[str, str], log: Path) -> ServiceProcess:
    process = ServiceProcess("intake", env, log)
    process.start()
    process.wait_ready()
    intake.process = process
    return process


@contextlib.asynccontextmanager
async def store_of(intake: Intake) -> AsyncIterator[StoreDatabase]:
    client: StoreClient = AsyncMongoClient(intake.mongodb, tz_aware=True)
    try:
        yield client[intake.database]
    finally:
        await client.close()


async def test_an_upload_killed_midway_leaves_nothing_visible_and_is_swept(
    intake_under_fire: tuple[Intake, dict[str, str]], tmp_path: Path
) -> None:
    intake, env = intake_under_fire
    head = sample_pdf("cut short")

    async def slowly() -> AsyncIterator[bytes]:
        yield head
        for _ in range(200):
            yield b"%" + secrets.token_bytes(64 * 1024 - 2) + b"\n"
            await asyncio.sleep(0.05)

    async def send() -> None:
        async with httpx.AsyncClient(base_url=intake.url, timeout=60) as client:
            with contextlib.suppress(httpx.HTTPError):
                await client.post(
                    "/v1/documents",
                    params={"name": "cut.pdf"},
                    content=slowly(),
                    headers=intake.portal() | {"Content-Type": "application/pdf"},
                )

    sending = asyncio.create_task(send())
    async with store_of(intake) as db:

        async def chunks_written() -> int | None:
            return await db["documents.chunks"].count_documents({}) or None

        await eventually(chunks_written, timeout_s=60, what="the first chunks in the store")
        await asyncio.to_thread(intake.process.kill)
        await sending

        # Nothing anyone can list, read or name in a submission.
        assert await db["documents.files"].count_documents({}) == 0
        assert await db["documents"].count_documents({}) == 0
        (marker,) = await db["document_uploads"].find({}).to_list(None)
        left = await db["documents.chunks"].count_documents({"files_id": marker["_id"]})
        assert left > 0

        process = await asyncio.to_thread(restarted, intake, env, tmp_path / "again.log")
        try:
            # What the sweep does once the upload is older than the time allowed.
            swept = await DocumentFiles(db).sweep(datetime.now(UTC) + timedelta(seconds=1))
            assert swept == 1
            assert await db["documents.chunks"].count_documents({}) == 0
            assert await db["document_uploads"].count_documents({}) == 0
        finally:
            process.stop()


async def test_results_cut_short_by_a_kill_are_issued_once_after_the_restart(
    intake_under_fire: tuple[Intake, dict[str, str]], tmp_path: Path
) -> None:
    intake, env = intake_under_fire
    await asyncio.to_thread(
        upload_samples,
        intake.url,
        lambda code: intake.portal(f"samples-{code}"),
        catalogue_document_codes(),
    )
    dossiers: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=intake.url, timeout=30) as client:
        for _ in range(APPROVALS):
            receipt = await client.post(
                "/v1/dossiers", json=waste_registration(), headers=intake.portal()
            )
            assert receipt.status_code == 202, receipt.text
            dossiers[receipt.json()["dossier_id"]] = receipt.json()["receipt_code"]
    for dossier_id, code in dossiers.items():
        approved = status_changed(dossier_id, code, 3, "approved", old_status="in_review")
        await intake.publish(
            approved.model_copy(update={"recipient": Recipient(display_name="Công ty Thử")})
        )

    async with store_of(intake) as db:

        async def first_issued() -> int | None:
            return await db["results"].count_documents({}) or None

        # Killed while the rest of the approvals are being issued.
        await eventually(first_issued, timeout_s=60, what="the first result stored")
        await asyncio.to_thread(intake.process.kill)
        issued_before = await db["results"].count_documents({})

        process = await asyncio.to_thread(restarted, intake, env, tmp_path / "again.log")
        try:

            async def every_one_announced() -> list[dict[str, Any]] | None:
                records = await read_topic(intake.kafka, intake.topic(Topics.SUBMISSIONS))
                found = [
                    e
                    for e in events_of(records, EventType.RESULT_ISSUED.value)
                    if e["data"]["dossier_id"] in dossiers
                ]
                announced = {e["data"]["dossier_id"] for e in found}
                return found if announced == set(dossiers) else None

            events = await eventually(every_one_announced, timeout_s=120, what="every result")
            results = {r["_id"]: r async for r in db["results"].find({})}
            assert set(results) == set(dossiers)
            assert issued_before <= len(results)
            for dossier_id in dossiers:
                mine = [e for e in events if e["data"]["dossier_id"] == dossier_id]
                # Announced again after the restart perhaps, but always as the same event.
                assert {e["id"] for e in mine} == {mine[0]["id"]}
                assert {e["data"]["sha256"] for e in mine} == {results[dossier_id]["sha256"]}

            # Each result is whole, readable and its hash; the sweep keeps them all and
            # takes only what a cut-short issue left.
            await DocumentFiles(db).sweep(datetime.now(UTC) + timedelta(seconds=1))
            async with httpx.AsyncClient(base_url=intake.url, timeout=30) as client:
                for dossier_id, code in dossiers.items():
                    result = results[dossier_id]
                    pdf = await client.get(
                        f"/v1/officer/dossiers/{code}/documents/{result['document_id']}",
                        headers=intake.officer("STNMT-MT"),
                    )
                    assert pdf.status_code == 200, pdf.text
                    assert hashlib.sha256(pdf.content).hexdigest() == result["sha256"]
            assert await db["documents"].count_documents(
                {"result_of": {"$in": list(dossiers)}}
            ) == len(dossiers)
            assert await db["documents.files"].count_documents({}) == await db[
                "documents"
            ].count_documents({})
        finally:
            process.stop()
