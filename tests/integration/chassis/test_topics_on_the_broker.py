"""ensure_topics on the suite's single broker: a replication factor it cannot hold is
refused loudly, and existing topics with fewer copies than asked are named, not altered."""

from __future__ import annotations

import logging

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from chassis.kafka.topics import TopicsNotCreated, ensure_topics, wanted_topics
from chassis.settings import ServiceSettings
from tests.support.infra import Infra

pytestmark = pytest.mark.integration


async def test_three_copies_on_one_broker_are_refused_not_shrunk(infra: Infra, run_id: str) -> None:
    settings = ServiceSettings(
        kafka_bootstrap_servers=infra.kafka,
        kafka_topic_prefix=f"{run_id}-rf3.",
        kafka_replication_factor=3,
        kafka_min_insync_replicas=2,
    )
    with pytest.raises(TopicsNotCreated, match="replication factor 3"):
        await ensure_topics(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka)
    await admin.start()
    try:
        made = [t for t in await admin.list_topics() if t.startswith(f"{run_id}-rf3.")]
    finally:
        await admin.close()
    assert made == []


async def test_existing_topics_with_fewer_copies_are_named_and_left_alone(
    infra: Infra, run_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = f"{run_id}-rfwarn."
    single = ServiceSettings(
        kafka_bootstrap_servers=infra.kafka,
        kafka_topic_prefix=prefix,
        kafka_replication_factor=1,
        kafka_min_insync_replicas=1,
    )
    await ensure_topics(single)
    asking_more = single.model_copy(update={"kafka_replication_factor": 3})
    with caplog.at_level(logging.WARNING, logger="chassis.kafka.topics"):
        await ensure_topics(asking_more)
    named = {r.args[0] for r in caplog.records if r.args and "fewer than" in r.getMessage()}
    assert named == set(wanted_topics(single))
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka)
    await admin.start()
    try:
        described = await admin.describe_topics(list(wanted_topics(single)))
        await admin.delete_topics(list(wanted_topics(single)))
    finally:
        await admin.close()
    assert {len(p["replicas"]) for t in described for p in t["partitions"]} == {1}
