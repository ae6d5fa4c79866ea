"""Recording: every event becomes one sealed entry; redelivery and a second writer change
nothing; personal data is stored encrypted."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import httpx
import pytest
from aiokafka import ConsumerRecord
from cryptography.fernet import Fernet
from pymongo import AsyncMongoClient

from audit.adapters.consumer import AuditRecorder
from audit.adapters.store import AuditStore
from audit.domain.chain import AuditEntry, verify_chain
from audit.domain.personal_data import ENCRYPTED_PREFIX, PersonalDataCipher
from audit.domain.recording import draft_entry, seal_run
from chassis.events import Envelope, decode, encode
from chassis.kafka import ConsumedEvent, EventPublisher
from chassis.mongo import StoreClient
from tests.integration.audit.conftest import (
    CITIZEN_ID,
    AuditService,
    new_dossier_id,
    status_changed,
    submitted,
    wait_for_entries,
)
from tests.support.infra import Infra

pytestmark = pytest.mark.integration


async def test_every_event_becomes_an_entry_with_what_changed_and_its_trace(
    audit: AuditService, publisher: EventPublisher, http: httpx.AsyncClient
) -> None:
    dossier = new_dossier_id()
    trace_id = uuid.uuid4().hex
    events = [
        submitted(dossier),
        status_changed(dossier, "submitted", "received", version=2),
        status_changed(dossier, "received", "in_review", version=3, officer="officer:cb-09"),
    ]
    carrier = {"traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"}
    # Submissions and lifecycle events travel on different topics, whose relative order is
    # not kept: the submission goes first and is recorded before the rest is sent.
    await publisher.publish_many(events[:1], keys=[dossier], trace_carriers=[carrier])
    await wait_for_entries(http, audit, dossier, 1)
    await publisher.publish_many(events[1:], keys=[dossier] * 2, trace_carriers=[carrier] * 2)

    entries = await wait_for_entries(http, audit, dossier, 3)

    assert [e["event_id"] for e in entries] == [e.id for e in events]
    assert [e["event_type"] for e in entries] == [e.type for e in events]
    assert [e["actor"] for e in entries] == [
        "portal:portal-client-1",
        "officer:cb-07",
        "officer:cb-09",
    ]
    assert all(e["trace_id"] == trace_id for e in entries)
    assert all(e["dossier_id"] == dossier for e in entries)
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 3
    assert entries[0]["changes"] == []
    assert entries[1]["changes"] == [
        {"field": "status", "old": "submitted", "new": "received"},
        {"field": "assignee", "old": None, "new": "cb-07"},
    ]
    assert entries[2]["changes"][0] == {"field": "status", "old": "received", "new": "in_review"}
    assert entries[0]["occurred_at"] == events[0].time.astimezone(UTC).isoformat(
        timespec="microseconds"
    ).replace("+00:00", "Z")
    assert datetime.fromisoformat(entries[0]["recorded_at"]) >= events[0].time

    stored = await audit.db["audit_entries"].find_one({"event_id": events[0].id})
    assert stored is not None
    applicant = stored["payload"]["applicant"]
    for field in ("name", "id_number", "email", "phone", "address"):
        assert applicant[field].startswith(ENCRYPTED_PREFIX), field
    raw = json.dumps(stored, default=str, ensure_ascii=False)
    assert CITIZEN_ID not in raw
    assert "Nguyễn Văn An" not in raw
    assert "an.nguyen@example.vn" not in raw
    # The ciphertext is what was sealed: the stored entry verifies as it is.
    stored.pop("_id")
    assert verify_chain([AuditEntry.model_validate(stored)], stored["prev_hash"], stored["seq"]).ok


async def test_a_batch_consumed_twice_leaves_the_chain_unchanged(
    audit: AuditService, publisher: EventPublisher, http: httpx.AsyncClient
) -> None:
    dossier = new_dossier_id()
    # One topic and one key: one partition, so the copies below are consumed in order.
    events = [status_changed(dossier, f"s{n}", f"s{n + 1}", version=n + 2) for n in range(15)]
    await publisher.publish_many(events, keys=[dossier] * len(events))
    first = await wait_for_entries(http, audit, dossier, len(events))
    before = (await http.get(f"{audit.url}/v1/audit/verify", headers=audit.auditor())).json()
    assert before["ok"], before

    # The same envelopes again, as after a consumer crash before its commit, then one new
    # event behind them on the same partition: once it is recorded, the copies were seen.
    sentinel = status_changed(dossier, "s15", "done", version=99)
    await publisher.publish_many([*events, sentinel], keys=[dossier] * (len(events) + 1))
    after = await wait_for_entries(http, audit, dossier, len(events) + 1)

    assert after[: len(events)] == first
    assert after[-1]["event_id"] == sentinel.id
    assert len(after) == len(events) + 1
    verified = (await http.get(f"{audit.url}/v1/audit/verify", headers=audit.auditor())).json()
    assert verified["ok"], verified
    # Nothing else writes to this log meanwhile: the copies added nothing, the new event
    # is the very next entry.
    assert after[-1]["seq"] == before["tree_size"] + 1
    assert after[-1]["prev_hash"] == before["last_entry_hash"]
    assert verified["tree_size"] == before["tree_size"] + 1
    count = await audit.db["audit_entries"].count_documents({"dossier_id": dossier})
    assert count == len(events) + 1


# --------------------------------------------------------------------------- the appender alone


@pytest.fixture
async def store(mongo_client: StoreClient, run_id: str) -> AsyncIterator[AuditStore]:
    name = f"{run_id}_audit_rec_{uuid.uuid4().hex[:6]}"
    store = AuditStore(mongo_client[name])
    await store.create_indexes()
    yield store
    await mongo_client.drop_database(name)


def consumed(envelope: Envelope, trace_id: str | None = None) -> ConsumedEvent:
    value = encode(envelope)
    headers = [("traceparent", f"00-{trace_id}-{'1' * 16}-01".encode())] if trace_id else []
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        topic="dossier.lifecycle",
        partition=0,
        offset=0,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=len(value),
        headers=headers,
    )
    decoded, payload = decode(value)
    return ConsumedEvent(decoded, payload, record)


def batch_of(count: int) -> list[ConsumedEvent]:
    dossier = new_dossier_id()
    return [consumed(submitted(dossier))] + [
        consumed(status_changed(dossier, f"s{n}", f"s{n + 1}", version=n + 2))
        for n in range(count - 1)
    ]


async def log_of(store: AuditStore) -> list[AuditEntry]:
    return [e async for page in store.log_pages(after_position=0, batch=500) for e in page]


def recorder(store: AuditStore) -> AuditRecorder:
    return AuditRecorder(store, PersonalDataCipher([Fernet.generate_key()]))


async def test_recording_the_same_batch_twice_changes_nothing(store: AuditStore) -> None:
    batch = batch_of(12)
    batch.append(batch[3])  # a duplicate inside the batch too
    appender = recorder(store)
    await appender.record(batch)
    once = await log_of(store)
    assert [e.seq for e in once] == list(range(1, 13))

    await appender.record(batch)
    await recorder(store).record(batch)  # a restarted instance, head read from the store
    assert await log_of(store) == once
    assert verify_chain(once).ok


async def test_trace_id_comes_from_the_traceparent_header(store: AuditStore) -> None:
    trace_id = uuid.uuid4().hex
    await recorder(store).record([consumed(submitted(new_dossier_id()), trace_id)])
    (entry,) = await log_of(store)
    assert entry.trace_id == trace_id


async def test_a_batch_cut_short_by_a_crash_is_completed_on_redelivery(store: AuditStore) -> None:
    batch = batch_of(10)
    cipher = PersonalDataCipher([Fernet.generate_key()])
    now = datetime.now(UTC)
    drafts = [draft_entry(e.envelope, trace_id=None, recorded_at=now, cipher=cipher) for e in batch]
    # Four entries landed before the process died; the offsets were never committed.
    await store.insert_entries(seal_run(drafts[:4], await store.head()))

    await AuditRecorder(store, cipher).record(batch)

    log = await log_of(store)
    assert [e.event_id for e in log] == [e.id for e in batch]
    assert verify_chain(log).ok


async def test_two_writers_never_fork_the_chain(
    store: AuditStore, mongo_client: StoreClient, infra: Infra
) -> None:
    """Two appenders with connections of their own (as two replicas have) race for the same
    positions; a batch both consumed (a rebalance) is recorded once."""
    other: StoreClient = AsyncMongoClient(infra.mongodb, tz_aware=True)
    try:
        rival = AuditStore(other[store.database_name])
        batches = [batch_of(15) for _ in range(12)]
        shared = batches[0]
        first, second = recorder(store), recorder(rival)

        async def feed(appender: AuditRecorder, mine: list[list[ConsumedEvent]]) -> None:
            for batch in mine:
                await appender.record(batch)

        await asyncio.gather(
            feed(first, [shared, *batches[1:7]]), feed(second, [shared, *batches[7:]])
        )
    finally:
        await other.close()

    log = await log_of(store)
    expected = {e.id for batch in batches for e in batch}
    assert [e.seq for e in log] == list(range(1, len(expected) + 1))
    assert sorted(e.event_id for e in log) == sorted(expected)
    assert verify_chain(log).ok


class BlindOnce(AuditStore):
    """A store whose first event look-up sees nothing: what an appender sees when another
    replica records the same events between its look-up and its insert."""

    blind = True

    async def recorded_event_ids(self, event_ids: Sequence[str]) -> set[str]:
        if self.blind:
            self.blind = False
            return set()
        return await super().recorded_event_ids(event_ids)


async def test_an_event_recorded_meanwhile_is_stopped_by_the_event_id_index(
    store: AuditStore, mongo_client: StoreClient
) -> None:
    """The look-up is not the guarantee: an insert that meets a recorded event stops there,
    keeps what landed before it, and the rest of the run is re-sealed behind it, once."""
    old = batch_of(3)
    await recorder(store).record(old)
    fresh = [event for _ in range(10) for event in batch_of(25)]
    mixed = [*fresh[:5], old[1], *fresh[5:]]

    blind = BlindOnce(mongo_client[store.database_name])
    await AuditRecorder(blind, PersonalDataCipher([Fernet.generate_key()])).record(mixed)

    assert not blind.blind
    log = await log_of(store)
    assert [e.seq for e in log] == list(range(1, 3 + len(fresh) + 1))
    assert [e.event_id for e in log[3:]] == [e.envelope.id for e in fresh]
    assert verify_chain(log).ok


async def test_an_event_recorded_long_ago_is_not_recorded_again(store: AuditStore) -> None:
    """No memory of recent events: a fresh appender (a restarted replica) asks the store."""
    early = batch_of(6)
    await recorder(store).record(early)
    await recorder(store).record(batch_of(5))

    mixed = [*batch_of(2), early[1], *batch_of(2), early[4]]
    await recorder(store).record(mixed)

    log = await log_of(store)
    assert [e.seq for e in log] == list(range(1, 16))
    assert [e.event_id for e in log][-4:] == [
        mixed[0].envelope.id,
        mixed[1].envelope.id,
        mixed[3].envelope.id,
        mixed[4].envelope.id,
    ]
    assert verify_chain(log).ok
