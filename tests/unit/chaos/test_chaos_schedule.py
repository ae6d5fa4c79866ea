"""What the chaos run's monkey is told to do, drawn from the plan and the seed."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from bench.chaos_support.infra import RESTARTABLE, ChaosInfra
from bench.chaos_support.monkey import Blow, MonkeyTally, schedule
from bench.chaos_support.plan import SERVICES, Plan

OWNED = ChaosInfra("127.0.0.1:9092", "mongodb://127.0.0.1:27017", "local launcher", True)
FOREIGN = ChaosInfra("127.0.0.1:9092", "mongodb://127.0.0.1:27018", "environment", False)


def _plan(**changes: object) -> Plan:
    base: dict[str, object] = {"dossiers": 100, "rate": 2.0, "replicas": 2, "kills": 2}
    return Plan(**(base | changes))  # type: ignore[arg-type]


def test_every_replica_of_every_service_is_killed_alone_as_often_as_planned() -> None:
    blows = schedule(_plan(replicas=3, kills=2, outages=0), FOREIGN, random.Random(1))
    alone = Counter((b.target, b.replica) for b in blows if b.is_kill)
    assert alone == {(s, r): 2 for s in SERVICES for r in (1, 2, 3)}


@pytest.mark.parametrize("outages", [1, 3, 4, 6])
def test_whole_outages_go_to_different_services_until_each_had_one(outages: int) -> None:
    blows = schedule(_plan(outages=outages), FOREIGN, random.Random(outages))
    whole = Counter(b.target for b in blows if b.is_kill and b.replica is None)
    assert sum(whole.values()) == outages
    assert max(whole.values()) - min(whole.get(s, 0) for s in SERVICES) <= 1
    assert len(whole) == min(outages, len(SERVICES))


def test_restarts_are_planned_only_for_servers_the_run_owns() -> None:
    plan = _plan(broker_restarts=1, store_restarts=2, postgres_restarts=1)
    owned = Counter(b.target for b in schedule(plan, OWNED, random.Random(3)) if not b.is_kill)
    assert owned == {"kafka": 1, "store": 2, "postgres": 1}
    assert set(owned) == set(RESTARTABLE)
    assert not [b for b in schedule(plan, FOREIGN, random.Random(3)) if not b.is_kill]


def test_blows_fall_in_order_inside_the_load() -> None:
    plan = _plan(dossiers=60, rate=3.0)  # 20 s of submissions
    blows = schedule(plan, OWNED, random.Random(9))
    times = [b.at_s for b in blows]
    assert times == sorted(times)
    assert all(2.0 <= t <= 18.0 for t in times)


def test_the_same_seed_gives_the_same_schedule() -> None:
    plan = _plan(outages=2)
    assert schedule(plan, OWNED, random.Random(42)) == schedule(plan, OWNED, random.Random(42))


def test_a_service_counts_the_kills_of_its_replicas_and_its_outages() -> None:
    tally = MonkeyTally(
        kills={"intake-1": 2, "intake-2": 1, "processing-1": 1, "processing-2": 0},
        outages={"intake": 1, "processing": 0},
    )
    assert tally.kills_of("intake") == 4
    assert tally.kills_of("processing") == 1
    assert Blow(1.0, "intake", 2).what == "intake-2"
    assert Blow(1.0, "intake").what == "every intake replica"
    assert Blow(1.0, "postgres").what == "postgres"
