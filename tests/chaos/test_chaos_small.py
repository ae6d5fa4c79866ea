"""The chaos run at CI size, with every service running as several replicas (two unless
``HOSO_E2E_REPLICAS`` says otherwise): every replica killed -9 once while its siblings
serve, one service killed whole (all its replicas at once), the broker, FerretDB and
PostgreSQL each restarted once when they are the local launcher's (an environment's or
a container's servers are not the test's to restart), and then nothing lost, nothing
told twice, nothing recorded twice, and the audit chain whole."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bench.chaos_support.infra import ChaosInfra
from bench.chaos_support.plan import SERVICES, Plan
from bench.chaos_support.run import run_chaos
from deploy.launcher.spawn import instance_id
from tests.support.infra import Infra
from tests.support.services import replica_count

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]


async def test_nothing_is_lost_or_repeated_while_everything_is_killed(
    infra: Infra, tmp_path: Path
) -> None:
    chaos_infra = ChaosInfra.of(infra.kafka, infra.mongodb, infra.how)
    seed = random.SystemRandom().randrange(1_000_000)
    replicas = replica_count()
    plan = Plan(
        dossiers=80,
        # Twenty seconds of submissions: the kills (each waits until the victim's
        # siblings are ready) and the three restarts fall while dossiers are moving.
        rate=4.0,
        replicas=replicas,
        kills=1,
        outages=1,
        broker_restarts=1,
        store_restarts=1,
        postgres_restarts=1,
        seed=seed,
        officers=16,
        claim=False,
        sms_share=0.1,
        webhook_share=0.1,
        poison=3,
        drain_timeout_s=240.0,
        work_dir=tmp_path,
    )
    report = await run_chaos(plan, chaos_infra)
    table = report.table()
    print(f"\nchaos seed {seed}\n{table}")

    assert report.ok, table
    assert report.replicas == replicas, table
    every_replica = {instance_id(s, n) for s in SERVICES for n in range(1, replicas + 1)}
    assert report.kills == dict.fromkeys(every_replica, 1), table
    assert sum(report.outages.values()) == 1, table
    restarted = 1 if chaos_infra.restartable else 0
    assert report.broker_restarts == restarted, table
    assert report.store_restarts == restarted, table
    assert report.postgres_restarts == restarted, table
    assert report.accepted == report.finished == plan.dossiers, table
    assert sum(report.notices_delivered.values()) == sum(report.notices_expected.values()), table
    assert report.audit_entries == report.events_on_topics, table
    assert report.dead_letters_injected == 2 * plan.poison, table
