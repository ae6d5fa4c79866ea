"""Guarded single-document writes on the real store, both ways: the condition in the
filter (what MongoDB gets) and checked after a look-up by id (what FerretDB gets).
Whichever way, the outcome must be the same."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorCollection

from chassis.mongo import GuardedWrites, is_ferretdb
from tests.support.infra import Infra

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@pytest.fixture(params=[False, True], ids=["condition-in-filter", "checked-after-lookup"])
async def guarded(
    request: pytest.FixtureRequest, infra: Infra, run_id: str
) -> AsyncIterator[tuple[GuardedWrites, AsyncIOMotorCollection[Any]]]:
    client: AsyncIOMotorClient[Any] = AsyncIOMotorClient(infra.mongodb, tz_aware=True)
    collection = client[f"{run_id}_guarded"][f"writes_{int(request.param)}"]
    await collection.delete_many({})
    await collection.insert_many(
        [
            {"_id": "d-1", "version": 3, "lease_until": NOW, "note": "first"},
            {"_id": "d-2", "version": 7, "lease_until": None, "note": "second"},
        ]
    )
    writes = GuardedWrites(collection)
    writes.check_here = request.param
    yield writes, collection
    await client.drop_database(f"{run_id}_guarded")
    client.close()


async def test_a_write_applies_only_when_the_condition_holds(
    guarded: tuple[GuardedWrites, AsyncIOMotorCollection[Any]],
) -> None:
    writes, collection = guarded
    assert await writes.update_one("d-1", {"version": 3}, {"$set": {"note": "changed"}})
    assert not await writes.update_one("d-1", {"version": 2}, {"$set": {"note": "refused"}})
    assert not await writes.update_one("missing", {"version": 3}, {"$set": {"note": "x"}})
    assert (await collection.find_one({"_id": "d-1"}))["note"] == "changed"
    assert await collection.count_documents({}) == 2


async def test_an_ordering_on_a_null_field_never_holds(
    guarded: tuple[GuardedWrites, AsyncIOMotorCollection[Any]],
) -> None:
    writes, collection = guarded
    later = NOW + timedelta(minutes=1)
    taken = await writes.find_one_and_update(
        "d-1", {"lease_until": {"$lte": later}}, {"$set": {"lease_until": later}}
    )
    assert taken is not None
    assert (taken["lease_until"], taken["note"]) == (later, "first")
    assert (
        await writes.find_one_and_update(
            "d-2", {"lease_until": {"$lte": later}}, {"$set": {"note": "taken"}}
        )
        is None
    )
    assert (await collection.find_one({"_id": "d-2"}))["note"] == "second"


async def test_an_upsert_creates_what_is_missing_and_respects_what_exists(
    guarded: tuple[GuardedWrites, AsyncIOMotorCollection[Any]],
) -> None:
    writes, collection = guarded
    assert await writes.update_one(
        "d-3", {"version": {"$lt": 1}}, {"$set": {"version": 1}}, upsert=True
    )
    assert not await writes.update_one(
        "d-2", {"version": {"$lt": 5}}, {"$set": {"version": 5}}, upsert=True
    )
    assert await writes.update_one(
        "d-2", {"version": {"$lt": 8}}, {"$set": {"version": 8}}, upsert=True
    )
    versions = {doc["_id"]: doc["version"] async for doc in collection.find({})}
    assert versions == {"d-1": 3, "d-2": 8, "d-3": 1}


async def test_a_projection_still_brings_what_the_condition_reads(
    guarded: tuple[GuardedWrites, AsyncIOMotorCollection[Any]],
) -> None:
    writes, _ = guarded
    found = await writes.find_one("d-1", {"version": 3}, {"note": 1})
    assert found is not None
    assert found["note"] == "first"
    assert await writes.find_one("d-1", {"version": 4}, {"note": 1}) is None


async def test_the_store_is_asked_which_way_suits_it(infra: Infra) -> None:
    client: AsyncIOMotorClient[Any] = AsyncIOMotorClient(infra.mongodb)
    database = client["admin"]
    writes = GuardedWrites(database["unused"])
    assert writes.check_here is False  # correct everywhere until the store has answered
    await writes.adapt(database)
    info = await database.command("buildInfo")
    assert writes.check_here is ("ferretdbVersion" in info)
    assert await is_ferretdb(database) is writes.check_here
    client.close()
