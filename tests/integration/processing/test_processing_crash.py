"""No lost and no phantom events: processing is killed right after a state change reaches
the store and before anything reaches Kafka, then restarted; every state change ends up
on the topic exactly once.

The process runs with the test-only ``PROCESSING_TEST_CRASH_AFTER_STORE_WRITE``, which
makes it ``os._exit`` straight after the first store write that carries events.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient

from chassis.events import TOPIC_PARTITIONS, DossierStatusChanged, Topics
from chassis.mongo import StoreClient
from chassis.settings import ServiceSettings
from processing.main import CRASH_EXIT_CODE
from tests.integration.processing.processing_harness import (
    Intake,
    act,
    lifecycle_topic,
    of_dossier,
    officer,
    processing_process,
    read_topic,
    wait_for_dossier,
)
from tests.support.infra import Infra
from tests.support.services import ServiceProcess
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

NAME = "processing-crash"
CRASH = {"PROCESSING_TEST_CRASH_AFTER_STORE_WRITE": "true"}
MT = "STNMT-MT"


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp(NAME)


@pytest.fixture(scope="module")
async def crash_intake(infra: Infra, run_id: str) -> AsyncIterator[Intake]:
    stand_in = Intake(
        ServiceSettings(
            service_name="intake-stand-in",
            kafka_bootstrap_servers=infra.kafka,
            kafka_topic_prefix=f"{run_id}-{NAME}.",
        )
    )
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


@pytest.fixture
def processes() -> Iterator[list[ServiceProcess]]:
    started: list[ServiceProcess] = []
    yield started
    for process in started:
        process.stop()


def _start(
    base_env: dict[str, str],
    run_id: str,
    log_dir: Path,
    processes: list[ServiceProcess],
    extra: dict[str, str] | None = None,
) -> ServiceProcess:
    process = processing_process(base_env, run_id, NAME, log_dir, extra)
    processes.append(process)
    process.start()
    process.wait_ready()
    return process


def _wait_for_crash(process: ServiceProcess) -> None:
    assert process.process is not None
    deadline = time.monotonic() + 30
    while process.process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.process.returncode == CRASH_EXIT_CODE, process.tail()
    process.stop()


async def _stored(infra: Infra, run_id: str, dossier_id: str) -> dict[str, Any] | None:
    client: StoreClient = AsyncMongoClient(infra.mongodb, tz_aware=True)
    try:
        database = client[f"{run_id}_{NAME}".replace("-", "_")]
        return await database["dossiers"].find_one({"_id": dossier_id})
    finally:
        await client.close()


async def _submissions_all_committed(bootstrap: str, run_id: str) -> bool:
    """Whether processing's consumer group has committed everything on the submissions
    topic, i.e. it has handled (again) what the crashed process had read."""
    topic = f"{run_id}-{NAME}.{Topics.SUBMISSIONS}"
    partitions = [TopicPartition(topic, p) for p in range(TOPIC_PARTITIONS[Topics.SUBMISSIONS])]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await consumer.start()
    await admin.start()
    try:
        end = await consumer.end_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(f"{run_id}-{NAME}.processing")
    finally:
        await consumer.stop()
        await admin.close()
    return all(
        tp in committed and committed[tp].offset >= end[tp] for tp in partitions if end[tp] > 0
    )


async def test_state_changes_survive_a_crash_between_store_and_kafka(
    base_env: dict[str, str],
    run_id: str,
    infra: Infra,
    jwt_secret: str,
    log_dir: Path,
    crash_intake: Intake,
    processes: list[ServiceProcess],
) -> None:
    me = officer(jwt_secret, "officer-crash", MT)
    topic = lifecycle_topic(run_id, NAME)

    # 1. A submission arrives; the process writes the received dossier and dies.
    doomed = _start(base_env, run_id, log_dir, processes, CRASH)
    dossier_id = await crash_intake.submit("MT-004")
    _wait_for_crash(doomed)
    stored = await _stored(infra, run_id, dossier_id)
    assert stored is not None
    assert (stored["status"], stored["version"], len(stored["outbox"])) == ("received", 1, 1)
    assert of_dossier(await read_topic(infra.kafka, topic), dossier_id) == []

    # 2. Restarted normally: the relay sends the stored event, the redelivered submission
    #    is recognised, and work goes on.
    revived = _start(base_env, run_id, log_dir, processes)
    async with httpx.AsyncClient(base_url=revived.url, timeout=15) as client:
        await wait_for_dossier(client, revived.url, dossier_id, me)
        started = await act(client, revived.url, dossier_id, me, 1, "start_review")
        assert started.status_code == 200, started.text

        async def redelivered() -> bool:
            return await _submissions_all_committed(infra.kafka, run_id)

        await eventually(redelivered, timeout_s=45, what="the submission handled again")
    revived.stop()

    # 3. An officer's decision is written, and the process dies before sending it.
    doomed = _start(base_env, run_id, log_dir, processes, CRASH)
    async with httpx.AsyncClient(base_url=doomed.url, timeout=15) as client:
        with pytest.raises(httpx.HTTPError):
            await act(client, doomed.url, dossier_id, me, 2, "approve", result_reference="GP-9")
    _wait_for_crash(doomed)
    stored = await _stored(infra, run_id, dossier_id)
    assert stored is not None
    assert (stored["status"], stored["version"], len(stored["outbox"])) == ("approved", 3, 1)

    # 4. Restarted normally: the decision goes out, intake issues the signed result,
    # and the result is handed back.
    revived = _start(base_env, run_id, log_dir, processes)
    await crash_intake.issue_result(dossier_id)
    async with httpx.AsyncClient(base_url=revived.url, timeout=15) as client:

        async def recorded() -> bool:
            view = await client.get(f"/v1/officer/dossiers/{dossier_id}", headers=me)
            return view.status_code == 200 and view.json().get("result_document") is not None

        await eventually(recorded, timeout_s=30, what="the issued result recorded")
        returned = await act(client, revived.url, dossier_id, me, 3, "return_result")
        assert returned.status_code == 200, returned.text

    async def every_change_published() -> list | None:
        events = of_dossier(await read_topic(infra.kafka, topic), dossier_id)
        actions = [d.action for _, d in events if isinstance(d, DossierStatusChanged)]
        return events if "return_result" in actions else None

    events = await eventually(every_change_published, timeout_s=30, what="return_result")
    changes = [d for _, d in events if isinstance(d, DossierStatusChanged)]
    assert Counter(c.action for c in changes) == {
        "receive": 1,
        "start_review": 1,
        "approve": 1,
        "return_result": 1,
    }
    assert sorted(c.version for c in changes) == [1, 2, 3, 4]
    assert len({envelope.id for envelope, _ in events}) == len(events)

    async def outbox_drained() -> bool:
        stored = await _stored(infra, run_id, dossier_id)
        return stored is not None and stored["outbox"] == [] and "outbox_pending" not in stored

    await eventually(outbox_drained, timeout_s=15, what="an empty outbox")
