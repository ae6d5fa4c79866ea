"""Intake's store adapter against the real store: every hot query is served by an index,
the publishing lease is won by exactly one of several replicas, and the status projection
stays right whichever replica applies which event, however often."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from pymongo import AsyncMongoClient, monitoring

from chassis.mongo import (
    StoreClient,
    StoreDatabase,
    connect,
    uses_index,
    write_conflict,
)
from chassis.settings import ServiceSettings
from intake.adapters.store import ACCEPTED, PENDING, Insert, IntakeStore
from intake.domain.receipt import ALPHABET, new_receipt_code
from intake.ports import AppointmentUpdate, ProjectionUpdate, StatusUpdate
from tests.support.infra import Infra
from tests.support.store_commands import all_commands_sent

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
FILLER = 10_000


def _receipt(n: int) -> str:
    digits = "".join(ALPHABET[(n >> (5 * i)) & 31] for i in range(5))
    return new_receipt_code("MT", date(2026, 11, 26), rng=lambda _: digits)


def _submission(n: int, *, pseudonym: bool = False) -> dict[str, Any]:
    document: dict[str, Any] = {
        "_id": str(uuid.uuid4()),
        "idempotency_id": uuid.uuid4().hex,
        "request_hash": uuid.uuid4().hex,
        "receipt_code": _receipt(n),
        "procedure_code": "MT-004",
        "agency": "STNMT-MT",
        "received_at": NOW,
        "due_date": "2026-12-17",
        "secret_hash": uuid.uuid4().hex * 2,
        "lease_until": NOW,
        "lease_owner": "first",
        "response": {"receipt_code": _receipt(n)},
        # As large as the submitted event a real submission carries.
        "event": {"id": str(uuid.uuid4()), "data": {"form": {"note": "x" * 1200}}},
    }
    if pseudonym:
        document["pseudonym"] = f"den-{n:020d}"
    return document


async def apply_status(
    store: IntakeStore, dossier_id: str, version: int, fields: dict[str, Any]
) -> bool:
    """One status change as a batch of its own; whether it changed the projection."""
    return await store.apply_updates([StatusUpdate(dossier_id, version, fields)]) == 1


async def apply_due_date(store: IntakeStore, dossier_id: str, due_date: str, at: datetime) -> bool:
    return await store.apply_updates([AppointmentUpdate(dossier_id, due_date, at)]) == 1


def _index_reads(plan: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(plan, dict):
        if "Index Name" in plan:
            found.append(plan)
        for value in plan.values():
            found.extend(_index_reads(value))
    elif isinstance(plan, list):
        for value in plan:
            found.extend(_index_reads(value))
    return found


def served_by_index(explained: dict[str, Any]) -> bool:
    """``uses_index``, and on DocumentDB every index read bounded by the query's own key.

    DocumentDB can walk a collection's whole ``_id_`` index as an ``Index Scan`` whose
    only condition is the collection's ``shard_key_value``, which is a scan in effect:
    a read counts only when its condition names the id or the document's fields."""
    bounded = all(
        "object_id" in read.get("Index Cond", "") or "document" in read.get("Index Cond", "")
        for read in _index_reads(explained.get("queryPlanner"))
    )
    return uses_index(explained) and bounded


async def _store(client: StoreClient, name: str) -> IntakeStore:
    adapter = IntakeStore(client[name])
    await adapter.create_indexes()
    return adapter


@pytest.fixture
async def database(infra: Infra, run_id: str) -> AsyncIterator[StoreDatabase]:
    client: StoreClient = AsyncMongoClient(infra.mongodb, tz_aware=True)
    name = f"{run_id}_intake_store_{uuid.uuid4().hex[:6]}"
    yield client[name]
    await client.drop_database(name)
    await client.close()


@pytest.fixture
async def replicas(database: StoreDatabase) -> list[IntakeStore]:
    """Two adapters on the database, as two intake replicas would have."""
    client = database.client
    return [await _store(client, database.name), await _store(client, database.name)]


@dataclass
class Counted:
    """An adapter on a client built by `connect`, whose commands are counted."""

    store: IntakeStore
    db: StoreDatabase
    service_name: str

    def sent(self) -> float:
        return all_commands_sent(self.service_name)


@pytest.fixture
async def counted(infra: Infra, run_id: str) -> AsyncIterator[Counted]:
    settings = ServiceSettings(
        # Its own name: only this client's commands are counted.
        service_name=f"intake-counted-{uuid.uuid4().hex[:6]}",
        mongodb_uri=SecretStr(infra.mongodb),
        mongodb_database=f"{run_id}_intake_counted_{uuid.uuid4().hex[:6]}",
    )
    client, db = connect(settings)
    store = IntakeStore(db)
    await store.create_indexes()
    yield Counted(store, db, settings.service_name)
    await client.drop_database(settings.mongodb_database)
    await client.close()


class Sent(monitoring.CommandListener):
    """Every query and write filter a client sends, as the server received it."""

    def __init__(self) -> None:
        self.commands: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in ("find", "update", "findAndModify"):
            self.commands.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def as_finds(self) -> list[dict[str, Any]]:
        """Each as the ``find`` that reads what it reads (writes cannot be explained on
        every store): a find as sent, with its limit and hint; a write's filter with the
        single-document limit it implies."""
        finds: list[dict[str, Any]] = []
        for command in self.commands:
            if "findAndModify" in command:
                finds.append({"find": command["findAndModify"], "filter": command["query"]})
                finds[-1]["limit"] = 1
            elif "updates" in command:
                for statement in command["updates"]:
                    finds.append({"find": command["update"], "filter": statement["q"], "limit": 1})
            elif "find" in command:
                keep = ("find", "filter", "projection", "sort", "limit", "singleBatch", "hint")
                finds.append({k: command[k] for k in keep if k in command})
        return finds


async def test_every_query_the_adapter_sends_reads_an_index(
    infra: Infra, database: StoreDatabase
) -> None:
    submissions, statuses = database["submissions"], database["statuses"]
    await (await _store(database.client, database.name)).create_indexes()
    # Past a few thousand documents the store's planner may walk a whole index for a
    # single-document read instead of looking the key up; fill beyond that.
    for first in range(0, FILLER, 2000):
        await submissions.insert_many(
            [
                {**_submission(n, pseudonym=n % 10 == 0), "state": ACCEPTED}
                for n in range(first, first + 2000)
            ]
        )
        await statuses.insert_many(
            [
                {"_id": str(uuid.uuid4()), "status": "received", "version": 1, "updated_at": NOW}
                for _ in range(2000)
            ]
        )

    sent = Sent()
    client: StoreClient = AsyncMongoClient(infra.mongodb, tz_aware=True, event_listeners=[sent])
    try:
        store = IntakeStore(client[database.name])
        target = _submission(FILLER + 1, pseudonym=True)
        clash = {**_submission(FILLER + 2), "idempotency_id": target["idempotency_id"]}
        assert await store.insert_submission(target) is Insert.DONE
        assert await store.insert_submission(clash) is Insert.KEY_TAKEN
        assert await store.by_idempotency_id(target["idempotency_id"]) is not None
        assert await store.claim(target["_id"], "second", NOW, NOW) is not None
        await store.release(target["_id"], "second", NOW)
        await store.mark_accepted(target["_id"], NOW)
        assert await store.state(target["_id"]) == ACCEPTED
        assert await store.for_follow_up(target["receipt_code"]) is not None
        assert await store.for_follow_up(_receipt(FILLER + 3)) is None
        assert await store.by_pseudonym(target["pseudonym"]) is not None
        assert await apply_status(store, target["_id"], 1, {"status": "received"})
        assert await apply_status(store, target["_id"], 2, {"updated_at": NOW})
        assert await apply_due_date(store, target["_id"], "2026-12-24", NOW + timedelta(1))
        assert await store.status(target["_id"]) is not None
    finally:
        await client.close()

    finds = sent.as_finds()
    # by idempotency id (once: the refused insert names its index), by id (claim,
    # release, acceptance, state), by receipt code (twice), by pseudonym, and the
    # projection's three writes and its read.
    assert len(finds) >= 12, finds
    scanned = []
    for find in finds:
        explained = await database.command({"explain": find, "verbosity": "queryPlanner"})
        if not served_by_index(explained):
            scanned.append((find, explained.get("queryPlanner")))
    assert not scanned, f"queries not served by an index: {scanned}"

    # The check itself tells a scan from an index read on this store.
    unindexed = await submissions.find({"agency": "STNMT-MT"}).limit(1).explain()
    assert not served_by_index(unindexed)


async def test_duplicates_are_told_apart(replicas: list[IntakeStore]) -> None:
    store = replicas[0]
    first = _submission(1)
    assert await store.insert_submission(first) is Insert.DONE
    same_key = {**_submission(2), "idempotency_id": first["idempotency_id"]}
    same_code = {**_submission(3), "receipt_code": first["receipt_code"]}
    fresh = _submission(4)
    outcomes = await asyncio.gather(
        *(store.insert_submission(d) for d in (same_key, same_code, fresh))
    )
    assert outcomes == [Insert.KEY_TAKEN, Insert.RECEIPT_TAKEN, Insert.DONE]
    found = await store.by_idempotency_id(first["idempotency_id"])
    assert found is not None
    assert found["_id"] == first["_id"]
    assert found["state"] == PENDING


class LostRaces(monitoring.CommandListener):
    """Inserts the store refused as a lost race (a deadlock under FerretDB)."""

    def __init__(self) -> None:
        self.count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.command_name == "insert":
            errors = event.reply.get("writeErrors", [])
            self.count += sum(1 for e in errors if write_conflict(e.get("code")))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_one_key_sent_to_two_replicas_at_once_is_one_submission(
    infra: Infra, run_id: str
) -> None:
    """A portal's retries of one submission reaching two replicas together. Under
    FerretDB the unique index is an exclusion constraint, and two inserts of one key can
    wait for each other until PostgreSQL fails one as a deadlock: that loser must be
    inserted again (then refused as a duplicate), not answered 503."""
    name = f"{run_id}_intake_race_{uuid.uuid4().hex[:6]}"
    races = LostRaces()
    # A client per replica, as two processes have.
    clients: list[StoreClient] = [
        AsyncMongoClient(infra.mongodb, tz_aware=True, event_listeners=[races]) for _ in "ab"
    ]
    try:
        stores = [await _store(client, name) for client in clients]
        on_ferretdb = "ferretdb" in await clients[0][name].command("buildInfo")
        rounds = 0
        # On FerretDB, until the race has been lost at least once (most rounds lose it).
        while rounds < 4 or (on_ferretdb and races.count == 0 and rounds < 40):
            rounds += 1
            key = uuid.uuid4().hex
            tries = [{**_submission(100 * rounds + i), "idempotency_id": key} for i in range(4)]
            outcomes = await asyncio.gather(
                *(stores[i % 2].insert_submission(d) for i, d in enumerate(tries))
            )
            assert outcomes.count(Insert.DONE) == 1, outcomes
            assert outcomes.count(Insert.KEY_TAKEN) == 3, outcomes
            winner = tries[outcomes.index(Insert.DONE)]
            found = await stores[0].by_idempotency_id(key)
            assert found is not None
            assert found["_id"] == winner["_id"]
        assert races.count > 0 or not on_ferretdb, f"no race lost in {rounds} rounds"
    finally:
        await clients[0].drop_database(name)
        for client in clients:
            await client.close()


async def test_the_refusal_itself_tells_which_key_is_taken(counted: Counted) -> None:
    store = counted.store
    first = _submission(1)
    assert await store.insert_submission(first) is Insert.DONE
    for clash, outcome in (
        ({"idempotency_id": first["idempotency_id"]}, Insert.KEY_TAKEN),
        ({"receipt_code": first["receipt_code"]}, Insert.RECEIPT_TAKEN),
    ):
        before = counted.sent()
        assert await store.insert_submission({**_submission(2), **clash}) is outcome
        # The refused insert alone: no read to find out which index refused it.
        assert counted.sent() - before == 1


async def test_one_of_many_replicas_wins_the_lease(replicas: list[IntakeStore]) -> None:
    submission = _submission(1)
    assert await replicas[0].insert_submission(submission) is Insert.DONE
    later = NOW + timedelta(seconds=15)
    # The first request's lease is still running: nobody takes it.
    assert (
        await replicas[1].claim(submission["_id"], "early", NOW - timedelta(seconds=1), later)
        is None
    )

    claims = await asyncio.gather(
        *(
            replicas[i % 2].claim(
                submission["_id"], f"owner-{i}", later, later + timedelta(seconds=15)
            )
            for i in range(20)
        )
    )
    winners = [c for c in claims if c is not None]
    assert len(winners) == 1
    owner = winners[0]["lease_owner"]

    # A loser's release does not free the winner's lease.
    loser = next(f"owner-{i}" for i in range(20) if f"owner-{i}" != owner)
    await replicas[0].release(submission["_id"], loser, later)
    assert await replicas[1].claim(submission["_id"], "late", later, later) is None

    await replicas[1].mark_accepted(submission["_id"], later)
    assert await replicas[0].state(submission["_id"]) == ACCEPTED
    # Accepted is final: no lease can be taken again, however late.
    far = later + timedelta(days=1)
    assert await replicas[0].claim(submission["_id"], "after", far, far) is None
    await replicas[0].mark_accepted(submission["_id"], far)
    found = await replicas[0].by_idempotency_id(submission["idempotency_id"])
    assert found is not None
    assert found["accepted_at"] == later
    assert "lease_owner" not in found


async def test_a_released_lease_is_taken_at_once(replicas: list[IntakeStore]) -> None:
    submission = {**_submission(1), "lease_until": NOW + timedelta(seconds=15)}
    assert await replicas[0].insert_submission(submission) is Insert.DONE
    assert await replicas[1].claim(submission["_id"], "retry", NOW, NOW) is None
    await replicas[0].release(submission["_id"], "first", NOW)
    claimed = await replicas[1].claim(submission["_id"], "retry", NOW, NOW + timedelta(seconds=15))
    assert claimed is not None
    assert claimed["lease_owner"] == "retry"


async def test_the_projection_is_the_same_whoever_applies_what(
    replicas: list[IntakeStore],
) -> None:
    dossier_id = str(uuid.uuid4())

    def fields(version: int) -> dict[str, Any]:
        return {
            "receipt_code": "MT-261126-00000X",
            "status": f"status-{version}",
            "missing_documents": [],
            "updated_at": NOW + timedelta(minutes=version),
        }

    # Every version delivered three times, out of order, to two replicas at once.
    deliveries = [v for _ in range(3) for v in (3, 1, 5, 2, 4)]
    applied = await asyncio.gather(
        *(
            apply_status(replicas[i % 2], dossier_id, version, fields(version))
            for i, version in enumerate(deliveries)
        )
    )
    projection = await replicas[0].status(dossier_id)
    assert projection is not None
    assert (projection["version"], projection["status"]) == (5, "status-5")
    # At most one delivery of each version changed anything; version 5 certainly did.
    changed = [v for v, done in zip(deliveries, applied, strict=True) if done]
    assert len(changed) == len(set(changed))
    assert 5 in changed

    # An older status arriving late changes nothing.
    assert not await apply_status(replicas[1], dossier_id, 4, fields(4))
    # A new appointment applies once, and not over something newer.
    moved = NOW + timedelta(hours=1)
    results = await asyncio.gather(
        *(apply_due_date(replicas[i % 2], dossier_id, "2026-12-24", moved) for i in range(6))
    )
    assert results.count(True) == 1
    assert not await apply_due_date(replicas[0], dossier_id, "2026-12-01", NOW)
    projection = await replicas[1].status(dossier_id)
    assert projection is not None
    assert (projection["due_date"], projection["updated_at"]) == ("2026-12-24", moved)


async def test_a_later_version_wins_a_race_to_create_the_projection(
    replicas: list[IntakeStore],
) -> None:
    # Both replicas find no projection and both try to create it: the one refused by the
    # unique _id must still apply its version if it is the later one.
    dossiers = [str(uuid.uuid4()) for _ in range(40)]
    await asyncio.gather(
        *(
            apply_status(replicas[(i + version) % 2], d, version, {"status": f"status-{version}"})
            for i, d in enumerate(dossiers)
            for version in ((1, 2) if i % 2 else (2, 1))
        )
    )
    versions = [(await replicas[0].status(d) or {}).get("version") for d in dossiers]
    assert versions == [2] * len(dossiers)


async def test_a_batch_is_one_ordered_write_and_skips_what_is_stale(counted: Counted) -> None:
    store = counted.store
    held, fresh = str(uuid.uuid4()), str(uuid.uuid4())
    await counted.db["statuses"].insert_one(
        {"_id": held, "status": "status-5", "version": 5, "updated_at": NOW}
    )
    before = counted.sent()
    changed = await store.apply_updates(
        [
            StatusUpdate(fresh, 1, {"status": "status-1", "updated_at": NOW}),
            StatusUpdate(fresh, 2, {"status": "status-2", "updated_at": NOW}),
            AppointmentUpdate(fresh, "2026-12-24", NOW + timedelta(hours=1)),
        ]
    )
    assert changed == 3
    # One round trip for the whole batch.
    assert counted.sent() - before == 1
    # A stale status of a projection that exists is refused by the unique _id (its
    # upsert finds nothing older to update); the writes after it still apply.
    before = counted.sent()
    changed = await store.apply_updates(
        [
            StatusUpdate(held, 3, {"status": "status-3"}),
            StatusUpdate(fresh, 3, {"status": "status-3"}),
            StatusUpdate(held, 6, {"status": "status-6"}),
        ]
    )
    assert changed == 2
    # Refused, refused again (so skipped), then the rest of the batch: an ordered
    # write stops at its first refusal.
    assert counted.sent() - before == 3
    assert (await store.status(held) or {}).get("status") == "status-6"
    projected = await store.status(fresh)
    assert projected is not None
    assert (projected["status"], projected["version"]) == ("status-3", 3)
    assert projected["due_date"] == "2026-12-24"


async def test_batches_racing_on_two_replicas_end_at_the_latest_versions(
    replicas: list[IntakeStore],
) -> None:
    # Both replicas apply a batch creating the same projections, each in its own order:
    # wherever an upsert loses the race, the later version still wins.
    dossiers = [str(uuid.uuid4()) for _ in range(30)]

    def batch(first: int) -> list[ProjectionUpdate]:
        return [
            StatusUpdate(d, version, {"status": f"status-{version}"})
            for i, d in enumerate(dossiers)
            for version in ((first, 3 - first) if i % 2 else (3 - first, first))
        ]

    await asyncio.gather(replicas[0].apply_updates(batch(1)), replicas[1].apply_updates(batch(2)))
    versions = [(await replicas[0].status(d) or {}).get("version") for d in dossiers]
    assert versions == [2] * len(dossiers)
