"""The chaos run at CI size: each service killed once, the broker restarted once when it is
the local launcher's (an environment's or a container's broker is not the test's to
restart), and then nothing lost, nothing told twice, nothing recorded twice."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bench.chaos_support.infra import ChaosInfra
from bench.chaos_support.plan import SERVICES, Plan
from bench.chaos_support.run import run_chaos
from tests.support.infra import Infra

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(420)]


async def test_nothing_is_lost_or_repeated_while_everything_is_killed(
    infra: Infra, tmp_path: Path
) -> None:
    chaos_infra = ChaosInfra.of(infra.kafka, infra.mongodb, infra.how)
    seed = random.SystemRandom().randrange(1_000_000)
    plan = Plan(
        dossiers=80,
        rate=8.0,
        kills=1,
        broker_restarts=1,
        store_restarts=0,
        seed=seed,
        officers=16,
        claim=False,
        sms_share=0.1,
        webhook_share=0.1,
        poison=3,
        drain_timeout_s=200.0,
        work_dir=tmp_path,
    )
    report = await run_chaos(plan, chaos_infra)
    table = report.table()
    print(f"\nchaos seed {seed}\n{table}")

    assert report.ok, table
    assert report.kills == dict.fromkeys(SERVICES, 1), table
    assert report.broker_restarts == (1 if chaos_infra.restartable else 0), table
    assert report.accepted == report.finished == plan.dossiers, table
    assert sum(report.notices_delivered.values()) == sum(report.notices_expected.values()), table
    assert report.audit_entries == report.events_on_topics, table
    assert report.dead_letters_injected == 2 * plan.poison, table
