"""The platform on a Kafka cluster of three that loses a broker: the broker leading the
busiest partitions is killed -9 under load and started again, then a second broker is
restarted. Producers and consumers find the new leaders, no acknowledged record is lost,
no notice is told twice, and the audit chain verifies.

The cluster is the test's own (the launcher in a folder of its own, on 19092/19192/19292
with controllers on 19093/19193/19293), so the single broker the rest of the suite uses
is never touched; it is stopped and its data deleted at the end."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bench.chaos_support.cluster import DEFAULT_DIR, KafkaCluster
from bench.chaos_support.infra import ChaosInfra
from bench.chaos_support.plan import Plan
from bench.chaos_support.run import run_chaos
from tests.support.infra import Infra

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(420)]


@pytest.fixture
async def cluster_infra(infra: Infra) -> AsyncIterator[ChaosInfra]:
    cluster = KafkaCluster(brokers=3, local_dir=DEFAULT_DIR)
    try:
        bootstrap = await asyncio.to_thread(cluster.up)
        yield ChaosInfra.on_cluster(cluster, bootstrap, infra.mongodb)
    finally:
        # Three JVMs are memory the rest of the suite wants back.
        await asyncio.to_thread(cluster.reset)


async def test_a_broker_dies_under_load_and_nothing_is_lost_or_told_twice(
    cluster_infra: ChaosInfra, tmp_path: Path
) -> None:
    seed = random.SystemRandom().randrange(1_000_000)
    plan = Plan(
        dossiers=60,
        rate=2.0,
        replicas=1,
        kills=0,
        outages=0,
        broker_restarts=0,
        store_restarts=0,
        postgres_restarts=0,
        broker_kills=1,
        broker_rolls=1,
        broker_down_s=8.0,
        seed=seed,
        officers=12,
        claim=False,
        sms_share=0.1,
        webhook_share=0.1,
        poison=3,
        drain_timeout_s=150.0,
        work_dir=tmp_path,
    )
    report = await run_chaos(plan, cluster_infra)
    table = report.table()
    print(f"\nkafka fail-over seed {seed}\n{table}")
    print(report.failover)

    assert report.ok, table
    assert report.broker_kills == 1, table
    assert report.broker_rolls == 1, table
    # Three copies of every record of every topic the services made, min ISR 2.
    assert report.topic_replication == 3, table
    assert report.accepted == report.finished == plan.dossiers, table
    assert report.duplicated_notices == 0, table
    assert sum(report.notices_delivered.values()) == sum(report.notices_expected.values()), table
    assert report.audit_entries == report.events_on_topics, table
    failover = report.failover
    assert failover is not None, table
    assert failover["lost"] == 0, table
    assert failover["acknowledged"] > 0, table
    # Each broker taken away led partitions of the probe topic, and the producers that
    # wrote to them got through again.
    assert all(b["producers_s"] for b in failover["blackouts"]), failover
    assert all(b["consumers_s"] for b in failover["blackouts"]), failover
