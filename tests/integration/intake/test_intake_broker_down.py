"""Without an acknowledging broker there is no 202: a dead broker makes intake not
ready and every submission a 503; a write the broker refused is published again, with
the same dossier id and event id, by a retry with the same Idempotency-Key."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import AsyncMongoClient

from chassis.events import TOPIC_PARTITIONS, Topics
from chassis.mongo import StoreClient
from tests.integration.intake.intake_bodies import denunciation, waste_registration
from tests.integration.intake.intake_support import events_of, read_topic
from tests.support.documents import upload_samples
from tests.support.services import ServiceProcess, service_env
from tests.support.tokens import bearer
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


def start(env: dict[str, str], log: Path) -> ServiceProcess:
    process = ServiceProcess("intake", env, log)
    process.start()
    return process


@pytest.fixture
def dead_broker_intake(
    base_env: dict[str, str], run_id: str, tmp_path: Path
) -> Iterator[ServiceProcess]:
    # No identity key either: denunciations are refused for that reason first.
    env = service_env(
        base_env,
        run_id,
        "intake",
        {
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
            "KAFKA_TOPIC_PREFIX": f"{run_id}-intake-dead.",
            "INTAKE_MONGODB_DATABASE": f"{run_id}_intake_dead",
        },
    )
    process = start(env, tmp_path / "intake-dead.log")
    try:
        yield process
    finally:
        process.stop()


async def test_dead_broker_means_not_ready_and_503(
    dead_broker_intake: ServiceProcess, jwt_secret: str, infra: Any, run_id: str
) -> None:
    async with httpx.AsyncClient(base_url=dead_broker_intake.url, timeout=15) as client:

        async def alive() -> httpx.Response | None:
            try:
                response = await client.get("/healthz")
            except httpx.TransportError:
                return None
            return response if response.status_code == 200 else None

        await eventually(alive, timeout_s=60, what="intake to answer /healthz")
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["kafka"] is False

        portal = bearer(jwt_secret, "portal-dead", "portal")
        response = await client.post(
            "/v1/dossiers",
            json=waste_registration(),
            headers=portal | {"Idempotency-Key": "dead-1"},
        )
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("application/problem+json")
        assert int(response.headers["retry-after"]) >= 1

        inspector = bearer(jwt_secret, "insp", "officer", agency="STNMT-TTR")
        refused = await client.post(
            "/v1/dossiers",
            json=denunciation("Lý Thị Hạnh", "001199055555", "0912555555"),
            headers=inspector,
        )
        assert refused.status_code == 503
        assert "identity key" in refused.json()["detail"]

        # The catalogue needs neither broker nor store.
        assert (await client.get("/v1/procedures/MT-004")).status_code == 200

    mongo: StoreClient = AsyncMongoClient(infra.mongodb)
    try:
        written = await mongo[f"{run_id}_intake_dead"]["submissions"].count_documents({})
    finally:
        await mongo.close()
    assert written == 0


async def test_retry_after_a_refused_publish_sends_the_same_event(
    base_env: dict[str, str], run_id: str, jwt_secret: str, infra: Any, tmp_path: Path
) -> None:
    prefix = f"{run_id}-intake-retry."
    database = f"{run_id}_intake_retry"
    env = service_env(
        base_env,
        run_id,
        "intake",
        {"KAFKA_TOPIC_PREFIX": prefix, "INTAKE_MONGODB_DATABASE": database},
    )
    process = start(env, tmp_path / "intake-retry.log")
    topic = prefix + Topics.SUBMISSIONS
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka)
    mongo: StoreClient = AsyncMongoClient(infra.mongodb, tz_aware=True)
    await admin.start()
    try:
        await asyncio.to_thread(process.wait_ready)
        await asyncio.to_thread(
            upload_samples,
            process.url,
            lambda code: bearer(jwt_secret, f"samples-{code}", "portal"),
            ["application_form", "business_registration"],
        )
        # The broker loses the topic (auto-creation is off): its writes fail until an
        # operator restores it.
        await admin.delete_topics([topic])
        body = waste_registration()
        headers = bearer(jwt_secret, "portal-retry", "portal") | {
            "Idempotency-Key": f"retry-{secrets.token_hex(4)}"
        }
        async with httpx.AsyncClient(base_url=process.url, timeout=60) as client:
            refused = await client.post("/v1/dossiers", json=body, headers=headers)
            assert refused.status_code == 503, refused.text
            assert int(refused.headers["retry-after"]) >= 1

            pending = await mongo[database]["submissions"].find_one({})
            assert pending is not None
            assert pending["state"] == "pending"
            # The refused request gave its lease back: a retry need not wait for it.
            assert pending["lease_until"] <= datetime.now(UTC)

            await admin.create_topics(
                [
                    NewTopic(
                        name=topic,
                        num_partitions=TOPIC_PARTITIONS[Topics.SUBMISSIONS],
                        replication_factor=1,
                    )
                ]
            )

            async def retried() -> httpx.Response | None:
                response = await client.post("/v1/dossiers", json=body, headers=headers)
                return response if response.status_code == 202 else None

            accepted = await eventually(retried, timeout_s=60, every_s=1, what="the retry")
        assert accepted.json()["dossier_id"] == pending["_id"]
        assert accepted.json()["receipt_code"] == pending["receipt_code"]

        events = events_of(await read_topic(infra.kafka, topic), "dossier.submitted.v1")
        assert [e["id"] for e in events] == [pending["event"]["id"]]
        assert events[0]["subject"] == pending["_id"]

        accepted_now = await mongo[database]["submissions"].find_one({"_id": pending["_id"]})
        assert accepted_now is not None
        assert accepted_now["state"] == "accepted"
        assert "lease_until" not in accepted_now
    finally:
        await admin.close()
        await mongo.close()
        process.stop()
