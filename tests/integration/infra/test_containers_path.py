"""The container path as the tests and the services see it: Kafka and the store running in
containers of the local engine, reached through ports published on 127.0.0.1 only.

Runs only with ``HOSO_TEST_INFRA=containers`` (``make test-containers``), where the
session's ``infra`` fixture starts the containers.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import AsyncMongoClient

from tests.support.containers import LABEL
from tests.support.infra import Infra

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get("HOSO_TEST_INFRA") != "containers",
        reason="the container path runs with HOSO_TEST_INFRA=containers (make test-containers)",
    ),
]


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


async def test_the_session_runs_on_containers(infra: Infra) -> None:
    assert infra.how == "testcontainers"
    assert _host_port(infra.kafka)[0] == "127.0.0.1"
    assert infra.mongodb.startswith("mongodb://127.0.0.1:")


async def test_kafka_in_a_container_returns_what_it_was_given(infra: Infra, run_id: str) -> None:
    topic = f"{run_id}-infra.containers-path"
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
        cluster = await admin.describe_cluster()
    finally:
        await admin.close()
    # The broker must advertise the published address, not its address in the container:
    # clients connect to whatever the metadata names.
    assert [(b["host"], b["port"]) for b in cluster["brokers"]] == [_host_port(infra.kafka)]

    sent = {f"dossier-{n}".encode(): secrets.token_bytes(16) for n in range(5)}
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka, acks="all")
    await producer.start()
    try:
        for key, value in sent.items():
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=infra.kafka,
        group_id=f"{run_id}-infra-containers-path",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    received: dict[bytes, bytes] = {}
    try:
        while len(received) < len(sent):
            batches = await consumer.getmany(timeout_ms=10_000)
            if not batches:
                break
            for records in batches.values():
                received.update({r.key: r.value for r in records if r.key and r.value})
    finally:
        await consumer.stop()
    assert received == sent


async def test_the_store_in_a_container_keeps_documents(infra: Infra, run_id: str) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        infra.mongodb, serverSelectionTimeoutMS=5000, tz_aware=True
    )
    database = f"{run_id}_infra_containers"
    try:
        assert (await client.admin.command("ping"))["ok"] == 1
        receipts = client[database]["receipts"]
        code = f"H{secrets.token_hex(4).upper()}"
        inserted = await receipts.insert_one({"receipt_code": code, "procedure": "MT-01"})
        found = await receipts.find_one({"_id": inserted.inserted_id})
        assert found is not None
        assert (found["receipt_code"], found["procedure"]) == (code, "MT-01")
        assert await receipts.count_documents({}) == 1
    finally:
        await client.drop_database(database)
        await client.close()


# What a service process does first: reach the broker and the store named in its
# environment. Run as a separate process with the environment the services get.
_SERVICE_PROBE = """
import asyncio, json, os
import pymongo
from aiokafka.admin import AIOKafkaAdminClient

async def brokers():
    admin = AIOKafkaAdminClient(bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"])
    await admin.start()
    try:
        return len((await admin.describe_cluster())["brokers"])
    finally:
        await admin.close()

store = pymongo.MongoClient(os.environ["MONGODB_URI"], serverSelectionTimeoutMS=5000)
print(json.dumps({"brokers": asyncio.run(brokers()), "ping": store.admin.command("ping")["ok"]}))
"""


def test_a_service_process_on_the_host_reaches_both(base_env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SERVICE_PROBE],
        env=base_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"brokers": 1, "ping": 1.0}


def test_every_port_is_published_on_loopback_only(infra: Infra) -> None:
    import docker

    ours = {_host_port(infra.kafka)[1], int(infra.mongodb.rsplit(":", 1)[1])}
    client = docker.from_env()
    try:
        containers = client.containers.list(filters={"label": LABEL})
        bindings = [
            binding
            for container in containers
            # The ports the engine actually published, random ones included.
            for published in container.ports.values()
            for binding in published or []
        ]
    finally:
        client.close()
    # Other sessions may run their own containers of this path at the same time.
    session = [b for b in bindings if int(b["HostPort"]) in ours]
    assert {int(b["HostPort"]) for b in session} == ours
    assert {b["HostIp"] for b in bindings} == {"127.0.0.1"}
