"""Two intake replicas on one database and one consumer group: retries spread over both
still make one dossier and one event, and either replica answers the citizen with the
status the shared projection holds."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from chassis.events import Topics
from tests.integration.intake.intake_bodies import petition, waste_registration
from tests.integration.intake.intake_support import Intake, events_of, read_topic, status_changed
from tests.support.services import ServiceProcess
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def second_replica(
    intake_service: Intake, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Intake]:
    """Another process with the first one's environment: same database, topics, keys."""
    work = Path(tmp_path_factory.mktemp("intake-2"))
    env = intake_service.process.env | {"SPANS_FILE": str(work / "spans.jsonl")}
    process = ServiceProcess("intake", env, work / "intake-2.log", replica=2)
    process.start()
    try:
        process.wait_ready()
        yield replace(intake_service, process=process)
    finally:
        process.stop()


async def test_retries_spread_over_replicas_make_one_dossier(
    intake_service: Intake, second_replica: Intake
) -> None:
    portal = intake_service.portal()
    body = petition()
    key = {"Idempotency-Key": secrets.token_hex(8)}
    async with (
        httpx.AsyncClient(base_url=intake_service.url, timeout=15) as first,
        httpx.AsyncClient(base_url=second_replica.url, timeout=15) as second,
    ):
        answers = await asyncio.gather(
            *(
                (first, second)[i % 2].post("/v1/dossiers", json=body, headers=portal | key)
                for i in range(8)
            )
        )
        settled = [
            await client.post("/v1/dossiers", json=body, headers=portal | key)
            for client in (first, second)
        ]
    dossier_ids = {answer.json()["dossier_id"] for answer in settled}
    assert [a.status_code for a in settled] == [202, 202]
    assert len(dossier_ids) == 1
    for answer in answers:
        # A retry that overtakes the publishing request, on either replica, comes back.
        assert answer.status_code in (202, 409), answer.text
        if answer.status_code == 202:
            assert answer.json()["dossier_id"] in dossier_ids
    records = await read_topic(intake_service.kafka, intake_service.topic(Topics.SUBMISSIONS))
    submitted = events_of(records, "dossier.submitted.v1")
    assert [e["subject"] for e in submitted].count(dossier_ids.pop()) == 1


async def test_either_replica_answers_from_the_shared_projection(
    intake_service: Intake, second_replica: Intake
) -> None:
    async with (
        httpx.AsyncClient(base_url=intake_service.url, timeout=15) as first,
        httpx.AsyncClient(base_url=second_replica.url, timeout=15) as second,
    ):
        response = await first.post(
            "/v1/dossiers", json=waste_registration(), headers=intake_service.portal()
        )
        assert response.status_code == 202, response.text
        receipt = response.json()
        url = f"/v1/dossiers/{receipt['receipt_code']}/status"
        secret = {"X-Follow-Up-Secret": receipt["follow_up_secret"]}
        seen = await second.get(url, headers=secret)
        assert seen.status_code == 200, seen.text
        assert seen.json()["status"] == "submitted"

        # Whichever replica's consumer owns the dossier's partition projects it.
        await intake_service.publish(
            status_changed(receipt["dossier_id"], receipt["receipt_code"], 2, "in_review")
        )

        async def projected(client: httpx.AsyncClient) -> dict[str, Any] | None:
            answer = await client.get(url, headers=secret)
            return answer.json() if answer.json().get("status") == "in_review" else None

        for client in (first, second):
            status = await eventually(
                lambda c=client: projected(c), timeout_s=30, what="the projected status"
            )
            assert status["receipt_code"] == receipt["receipt_code"]
