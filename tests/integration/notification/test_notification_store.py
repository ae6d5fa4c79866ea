"""The delivery log on the real store, shared by replicas: each query of the hot path
reads through an index, and of callers racing for one change, from two clients as two
replicas would, exactly one wins."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from chassis.mongo import StoreClient, StoreCollection, uses_index
from notification.adapters.store import DeliveryStore
from notification.service.ports import utcnow
from tests.support.infra import Infra

pytestmark = pytest.mark.integration

RACERS = 20


@pytest.fixture(scope="module")
async def replicas(
    infra: Infra, run_id: str
) -> AsyncIterator[tuple[DeliveryStore, DeliveryStore, StoreCollection]]:
    """Two stores on one database through two clients, as two replicas have them."""
    name = f"{run_id}_notification_store"
    first: StoreClient = AsyncMongoClient(infra.mongodb, tz_aware=True)
    second: StoreClient = AsyncMongoClient(infra.mongodb, tz_aware=True)
    one, other = DeliveryStore(first[name]), DeliveryStore(second[name])
    await one.create_indexes()
    await other.create_indexes()  # a second replica starting: the same indexes, no error
    try:
        yield one, other, first[name]["deliveries"]
    finally:
        await first.drop_database(name)
        await first.close()
        await second.close()


def _delivery(status: str, now: datetime, *, attempts: int = 1, **fields: Any) -> dict[str, Any]:
    document = {
        "_id": secrets.token_hex(32),
        "dossier_id": f"dossier-{secrets.token_hex(3)}",
        "channel": "sms",
        "status": status,
        "attempts": attempts,
        "max_attempts": 6,
        "resends": 0,
        "next_attempt_at": None,
        "lease_until": None,
        "publish_at": None,
        "history": [],
        "content": {"text": "Ho so da co ket qua"},
        "created_at": now,
        "updated_at": now,
    }
    return document | fields


def _whole_collection_reads(plan: Any) -> list[str]:
    """Index reads that are scans in disguise: DocumentDB reads a collection without a
    usable index through its ``_id`` index with nothing but the collection's shard key
    as condition, which ``uses_index`` takes for an index read."""
    found: list[str] = []
    if isinstance(plan, dict):
        if re.fullmatch(r"\(shard_key_value = '\d+'::bigint\)", str(plan.get("Index Cond", ""))):
            found.append(str(plan.get("Index Name")))
        for value in plan.values():
            found.extend(_whole_collection_reads(value))
    elif isinstance(plan, list):
        for value in plan:
            found.extend(_whole_collection_reads(value))
    return found


async def _race(calls: list[Any]) -> list[Any]:
    return [r for r in await asyncio.gather(*calls) if r is not None]


def _racers(one: DeliveryStore, other: DeliveryStore) -> list[DeliveryStore]:
    return [one if i % 2 else other for i in range(RACERS)]


async def test_every_hot_query_reads_through_an_index(
    replicas: tuple[DeliveryStore, DeliveryStore, StoreCollection],
) -> None:
    store, _, deliveries = replicas
    now = utcnow()
    # A log of some thousands, mostly settled, as the service's looks after a while.
    mix = ["sent"] * 40 + ["failed", "pending", "retry_scheduled", "sending"]
    mix += ["sent_unpublished", "failed_unpublished"]
    documents = []
    for i in range(3000):
        status = mix[i % len(mix)]
        documents.append(
            _delivery(
                status,
                now - timedelta(seconds=i),
                channel=("email", "sms", "webhook")[i % 3],
                dossier_id=f"dossier-{i % 700}",
                next_attempt_at=now if status in ("pending", "retry_scheduled") else None,
                lease_until=now if status == "sending" else None,
                publish_at=now if status.endswith("_unpublished") else None,
            )
        )
    await deliveries.insert_many(documents)

    plans = await store.query_plans(now, documents[5]["_id"], "dossier-5")

    assert len(plans) == 12
    scanning = sorted(
        name
        for name, plan in plans.items()
        if not uses_index(plan) or _whole_collection_reads(plan)
    )
    assert scanning == []


async def test_of_many_callers_claiming_one_due_attempt_one_wins(
    replicas: tuple[DeliveryStore, DeliveryStore, StoreCollection],
) -> None:
    one, other, deliveries = replicas
    now = utcnow()
    due = _delivery("retry_scheduled", now, attempts=2, next_attempt_at=now)
    await deliveries.insert_one(due)

    won = await _race(
        [s.start_attempt(due["_id"], 2, now=now, lease_s=60) for s in _racers(one, other)]
    )

    assert len(won) == 1
    assert (won[0]["status"], won[0]["attempts"]) == ("sending", 3)
    assert won[0]["content"] == due["content"]  # what to send comes with the claim
    stored = await deliveries.find_one({"_id": due["_id"]})
    assert stored is not None
    assert (stored["status"], stored["attempts"], stored["next_attempt_at"]) == ("sending", 3, None)
    # A claim made on an old reading of the attempt count finds nothing to claim.
    assert await one.start_attempt(due["_id"], 2, now=now, lease_s=60) is None


async def test_replicas_claiming_a_polls_due_attempts_together_win_each_once(
    replicas: tuple[DeliveryStore, DeliveryStore, StoreCollection],
) -> None:
    one, other, deliveries = replicas
    now = utcnow()
    due = [
        _delivery("retry_scheduled", now, attempts=n % 3, next_attempt_at=now) for n in range(12)
    ]
    await deliveries.insert_many(due)
    polled = [(d["_id"], d["attempts"]) for d in due]

    # Each replica's poll saw them all, in its own order; one reading is out of date.
    rounds = await asyncio.gather(
        *(
            s.start_attempts(polled[i:] + polled[:i], now=now, lease_s=60)
            for i, s in enumerate(_racers(one, other)[:6])
        ),
        one.start_attempts([(due[0]["_id"], due[0]["attempts"] + 1)], now=now, lease_s=60),
    )

    won = [d for found in rounds for d in found]
    assert sorted(d["_id"] for d in won) == sorted(d["_id"] for d in due)
    attempts_before = {d["_id"]: d["attempts"] for d in due}
    for document in won:
        assert document["status"] == "sending"
        assert document["attempts"] == attempts_before[document["_id"]] + 1
        assert document["content"] == due[0]["content"]  # what to send comes with the claim
    # Claimed now: a later poll on the same reading finds nothing to claim.
    assert await other.start_attempts(polled, now=now, lease_s=60) == []


async def test_claims_made_in_a_bulk_write_that_partly_failed_are_still_handed_over(
    replicas: tuple[DeliveryStore, DeliveryStore, StoreCollection],
) -> None:
    one, _, deliveries = replicas
    now = utcnow()
    good = [_delivery("retry_scheduled", now, attempts=1, next_attempt_at=now) for _ in range(3)]
    # A document its claim's update cannot apply to: the store refuses that one write.
    broken = _delivery("retry_scheduled", now, attempts="one", next_attempt_at=now)
    await deliveries.insert_many([*good, broken])

    try:
        won = await one.start_attempts(
            [(broken["_id"], "one"), *((d["_id"], 1) for d in good)],  # type: ignore[list-item]
            now=now,
            lease_s=60,
        )
        left = await deliveries.find_one({"_id": broken["_id"]})
    finally:
        # Not left for the other tests' polls, which read attempt counts as numbers.
        await deliveries.delete_one({"_id": broken["_id"]})

    assert sorted(d["_id"] for d in won) == sorted(d["_id"] for d in good)
    assert all(d["status"] == "sending" and d["attempts"] == 2 for d in won)
    assert left is not None
    assert left["status"] == "retry_scheduled"


async def test_a_retry_not_yet_due_cannot_be_claimed(
    replicas: tuple[DeliveryStore, DeliveryStore, StoreCollection],
) -> None:
    one, _, deliveries = replicas
    now = utcnow()
    later = _delivery("retry_scheduled", now, next_attempt_at=now + timedelta(seconds=30))
    await deliveries.insert_one(later)

    assert await one.start_attempt(later["_id"], 1, now=now, lease_s=60) is None
    assert later["_id"] not in {i for i, _ in await one.due(now, 1000)}
    claimed = await one.start_attempt(later["_id"], 1, now=now + timedelta(seconds=30), lease_s=60)
    assert claimed is not None


async def test_an_abandoned_attempt_is_taken_over_or_failed_once(
    replicas: tuple[DeliveryStore, DeliveryStore, StoreCollection],
) -> None:
    one, other, deliveries = replicas
    now = utcnow()
    lapsed = now - timedelta(seconds=1)
    retaken = _delivery("sending", now, attempts=1, lease_until=lapsed)
    given_up = _delivery("sending", now, attempts=1, lease_until=lapsed)
    alive = _delivery("sending", now, attempts=1, lease_until=now + timedelta(seconds=60))
    await deliveries.insert_many([retaken, given_up, alive])
    stale = {d["_id"] for d in await one.stale(now, 1000)}
    assert {retaken["_id"], given_up["_id"]} <= stale
    assert alive["_id"] not in stale

    racers = _racers(one, other)
    won = await _race([s.retake_stale(retaken["_id"], 1, now=now, lease_s=60) for s in racers])
    assert [d["attempts"] for d in won] == [2]

    failed = {"status": "failed_unpublished", "publish_at": now}
    history = {"attempt": 1, "at": now, "outcome": "interrupted"}
    # Taking over and giving up race each other too: one of them, once.
    outcomes = await _race(
        [
            s.give_up_stale(given_up["_id"], 1, now=now, fields=failed, history=history)
            if i % 2
            else s.retake_stale(given_up["_id"], 1, now=now, lease_s=60)
            for i, s in enumerate(racers)
        ]
    )
    assert len(outcomes) == 1
    stored = await deliveries.find_one({"_id": given_up["_id"]})
    assert stored is not None
    assert (stored["status"], stored["attempts"]) == (
        outcomes[0]["status"],
        outcomes[0]["attempts"],
    )
    assert len(stored["history"]) == (1 if stored["status"] == "failed_unpublished" else 0)
    assert await one.retake_stale(alive["_id"], 1, now=now, lease_s=60) is None


async def test_an_outcome_is_recorded_only_for_the_attempt_under_way(
    replicas: tuple[DeliveryStore, DeliveryStore, StoreCollection],
) -> None:
    one, other, deliveries = replicas
    now = utcnow()
    delivery = _delivery("sending", now, attempts=3, lease_until=now + timedelta(seconds=60))
    await deliveries.insert_one(delivery)
    sent = {"status": "sent_unpublished", "publish_at": now}

    # A process presumed dead reports on attempt 2 after attempt 3 started: ignored.
    assert await one.finish_attempt(delivery, 2, fields=sent, history={"attempt": 2}) is None
    recorded = await _race(
        [
            s.finish_attempt(delivery, 3, fields=sent, history={"attempt": 3})
            for s in _racers(one, other)
        ]
    )
    assert len(recorded) == 1
    stored = await deliveries.find_one({"_id": delivery["_id"]})
    assert stored is not None
    assert stored["status"] == "sent_unpublished"
    assert stored["history"] == [{"attempt": 3}]


async def test_outcomes_recorded_together_are_refused_one_by_one(
    replicas: tuple[DeliveryStore, DeliveryStore, StoreCollection],
) -> None:
    one, _, deliveries = replicas
    now = utcnow()
    lease = now + timedelta(seconds=60)
    good, bad = (_delivery("sending", now, attempts=1, lease_until=lease) for _ in range(2))
    await deliveries.insert_many([good, bad])
    sent = {"status": "sent_unpublished", "publish_at": now}

    # Written in one bulk write; the second update contradicts itself and is refused.
    recorded, refused = await asyncio.gather(
        one.finish_attempt(good, 1, fields=sent, history={"attempt": 1}),
        one.finish_attempt(bad, 1, fields=sent | {"history": []}, history={"attempt": 1}),
        return_exceptions=True,
    )

    assert isinstance(recorded, dict)
    assert recorded["status"] == "sent_unpublished"
    assert isinstance(refused, OperationFailure)
    statuses = {
        d["_id"]: d["status"]
        async for d in deliveries.find({"_id": {"$in": [good["_id"], bad["_id"]]}})
    }
    assert statuses == {good["_id"]: "sent_unpublished", bad["_id"]: "sending"}


async def test_an_overdue_outcome_is_claimed_for_publishing_by_one_replica_at_a_time(
    replicas: tuple[DeliveryStore, DeliveryStore, StoreCollection],
) -> None:
    one, other, deliveries = replicas
    now = utcnow()
    overdue = [
        _delivery(status, now, publish_at=now - timedelta(seconds=1))
        for status in ("sent_unpublished", "failed_unpublished") * 5
    ]
    not_yet = _delivery("sent_unpublished", now, publish_at=now + timedelta(seconds=60))
    await deliveries.insert_many([*overdue, not_yet])
    wanted = {d["_id"] for d in overdue}

    rounds = await asyncio.gather(
        *(s.claim_unpublished(now, 30, 1000) for s in _racers(one, other))
    )

    claimed = [d["_id"] for found in rounds for d in found if d["_id"] in wanted | {not_yet["_id"]}]
    assert sorted(claimed) == sorted(wanted)
    assert all("content" not in d for found in rounds for d in found)
    # Held for the grace: nobody claims them again until then, unless still unpublished.
    assert not {d["_id"] for d in await one.claim_unpublished(now, 30, 1000)} & wanted
    later = await other.claim_unpublished(now + timedelta(seconds=31), 30, 1000)
    assert wanted <= {d["_id"] for d in later}

    await one.mark_published(later, now)
    finals = {
        d["_id"]: d["status"] async for d in deliveries.find({"_id": {"$in": sorted(wanted)}})
    }
    assert finals == {d["_id"]: d["status"].removesuffix("_unpublished") for d in overdue}


async def test_two_operators_resending_one_failed_delivery_resend_it_once(
    replicas: tuple[DeliveryStore, DeliveryStore, StoreCollection],
) -> None:
    one, other, deliveries = replicas
    now = utcnow()
    failed = _delivery("failed", now, attempts=6)
    await deliveries.insert_one(failed)

    resent = await _race(
        [
            s.resend(failed["_id"], now=now, extra_attempts=6, actor=f"operator:{i}")
            for i, s in enumerate(_racers(one, other))
        ]
    )

    assert len(resent) == 1
    assert (resent[0]["status"], resent[0]["max_attempts"], resent[0]["resends"]) == (
        "retry_scheduled",
        12,
        1,
    )
    assert "content" not in resent[0]
    stored = await deliveries.find_one({"_id": failed["_id"]})
    assert stored is not None
    assert [h["outcome"] for h in stored["history"]] == ["resend"]
    assert (failed["_id"], 6) in await one.due(now, 1000)
