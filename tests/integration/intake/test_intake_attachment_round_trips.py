"""A submission's attachments against the real store: all found in one query, linked in
one write, and a document already referenced is not marked again, while one swept
meanwhile is still noticed. Concurrent submissions share those round trips."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from chassis.mongo import StoreClient, StoreDatabase
from intake.adapters.gridfs import DocumentFiles
from tests.support.infra import Infra

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


class Commands(monitoring.CommandListener):
    """The name and collection of every command a client sends."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.append((event.command_name, str(event.command.get(event.command_name))))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
async def database(infra: Infra, run_id: str) -> AsyncIterator[StoreDatabase]:
    client: StoreClient = AsyncMongoClient(infra.mongodb, tz_aware=True)
    name = f"{run_id}_intake_attach_{uuid.uuid4().hex[:6]}"
    db = client[name]
    await DocumentFiles(db).create_indexes()
    yield db
    await client.drop_database(name)
    await client.close()


def _record(sha256: str) -> dict[str, Any]:
    return {
        "_id": uuid.uuid4().hex[:24],
        "sha256": sha256,
        "size": 100,
        "media_type": "application/pdf",
        "uploaded_at": NOW,
        "referenced": False,
    }


async def _listened(
    infra: Infra, database: StoreDatabase
) -> tuple[DocumentFiles, Commands, StoreClient]:
    """A fresh adapter, as another replica or a restarted intake has, on a client whose
    commands are recorded."""
    commands = Commands()
    client: StoreClient = AsyncMongoClient(infra.mongodb, tz_aware=True, event_listeners=[commands])
    return DocumentFiles(client[database.name]), commands, client


async def test_attachments_are_found_in_one_query_and_linked_in_one_write(
    infra: Infra, database: StoreDatabase
) -> None:
    form, registration = _record("a" * 64), _record("b" * 64)
    await database["documents"].insert_many([form, registration])
    files, commands, client = await _listened(infra, database)
    try:
        found = await files.by_sha256s(["a" * 64, "b" * 64, "c" * 64])
        assert sorted(found) == ["a" * 64, "b" * 64]
        assert commands.sent == [("find", "documents")]
        commands.sent.clear()
        assert await files.attach("d-1", [form["_id"], registration["_id"]], NOW) == 2
        assert commands.sent == [("update", "documents"), ("update", "document_links")]
    finally:
        await client.close()
    records = await database["documents"].find({}, {"referenced": 1}).to_list(None)
    assert [r["referenced"] for r in records] == [True, True]
    links = await database["document_links"].find({}, {"_id": 1}).to_list(None)
    assert sorted(link["_id"] for link in links) == sorted(
        [f"d-1/{form['_id']}", f"d-1/{registration['_id']}"]
    )


async def test_a_document_seen_referenced_is_only_linked(
    infra: Infra, database: StoreDatabase
) -> None:
    form, fresh = _record("a" * 64), _record("b" * 64)
    await database["documents"].insert_many([form | {"referenced": True}, fresh])
    files, commands, client = await _listened(infra, database)
    try:
        await files.by_sha256s(["a" * 64, "b" * 64])
        commands.sent.clear()
        assert await files.attach("d-2", [form["_id"], fresh["_id"]], NOW) == 2
        # Only the one not yet referenced is marked.
        assert commands.sent.count(("update", "documents")) == 1
        commands.sent.clear()
        # Now both are known referenced: the next dossier's attach only links them.
        assert await files.attach("d-3", [form["_id"], fresh["_id"]], NOW) == 2
        assert commands.sent == [("update", "document_links")]
    finally:
        await client.close()
    assert await database["document_links"].count_documents({}) == 4


async def test_a_document_swept_meanwhile_is_noticed(infra: Infra, database: StoreDatabase) -> None:
    form, swept = _record("a" * 64), _record("b" * 64)
    await database["documents"].insert_many([form, swept])
    files, _, client = await _listened(infra, database)
    try:
        await files.by_sha256s(["a" * 64, "b" * 64])
        await database["documents"].delete_one({"_id": swept["_id"]})
        assert await files.attach("d-4", [form["_id"], swept["_id"]], NOW) == 1
    finally:
        await client.close()


async def test_concurrent_submissions_share_the_look_up_and_the_writes(
    infra: Infra, database: StoreDatabase
) -> None:
    records = [_record(f"{n:064x}") for n in range(12)]
    await database["documents"].insert_many(records)
    files, commands, client = await _listened(infra, database)
    try:
        # Six submissions at once, two attachments each, one of them unknown.
        wanted = [[f"{2 * n:064x}", f"{2 * n + 1:064x}", f"{99 + n:064x}"] for n in range(6)]
        found = await asyncio.gather(*(files.by_sha256s(w) for w in wanted))
        assert commands.sent == [("find", "documents")]
        assert [sorted(f) for f in found] == [sorted(w[:2]) for w in wanted]
        assert [f[w[0]]["_id"] for f, w in zip(found, wanted, strict=True)] == [
            records[2 * n]["_id"] for n in range(6)
        ]
        commands.sent.clear()
        # One of them loses a document to the sweep meanwhile: only that one is refused
        # and gets no link; the others are marked and linked in one write each.
        await database["documents"].delete_one({"_id": records[11]["_id"]})
        kept = await asyncio.gather(
            *(
                files.attach(f"d-{n}", [records[2 * n]["_id"], records[2 * n + 1]["_id"]], NOW)
                for n in range(6)
            )
        )
        assert kept == [2, 2, 2, 2, 2, 1]
        assert commands.sent == [
            ("update", "documents"),
            ("find", "documents"),
            ("update", "document_links"),
        ]
    finally:
        await client.close()
    links = await database["document_links"].find({}, {"_id": 1}).to_list(None)
    assert sorted(link["_id"] for link in links) == sorted(
        f"d-{n}/{records[2 * n + k]['_id']}" for n in range(5) for k in (0, 1)
    )
