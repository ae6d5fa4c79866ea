"""Every query the audit service makes on a hot path is served by an index on the real store:
the chain head, the event id look-up, a dossier's trail, the filtered query with its keyset
pages and the look-up of an issued document by its hash. Each plan is asked for through the
store's own query builders, so a query changed in the store is the query checked here."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.fernet import Fernet

from audit.adapters.store import AuditStore
from audit.domain.chain import AuditEntry
from audit.domain.personal_data import PersonalDataCipher
from audit.domain.recording import ChainHead, draft_entry, seal_run
from audit.service.ports import EntryFilter
from chassis.events import DossierSubmitted, Envelope
from chassis.mongo import StoreClient, StoreCursor, uses_index
from tests.integration.audit.conftest import new_dossier_id, status_changed, submitted

pytestmark = pytest.mark.integration

# Enough entries that a planner weighs an index against reading everything.
SIZE = 6000
OFFICERS = 40
PAGE = 101


def _events() -> list[Envelope]:
    events: list[Envelope] = []
    while len(events) < SIZE:
        dossier = new_dossier_id()
        events.append(submitted(dossier))
        for step in range(7):
            officer = f"officer:cb-{len(events) % OFFICERS:02d}"
            events.append(
                status_changed(
                    dossier, f"s{step}", f"s{step + 1}", version=step + 2, officer=officer
                )
            )
    return events[:SIZE]


@pytest.fixture(scope="module")
async def filled(
    mongo_client: StoreClient, run_id: str
) -> AsyncIterator[tuple[AuditStore, list[AuditEntry]]]:
    name = f"{run_id}_audit_idx_{uuid.uuid4().hex[:6]}"
    store = AuditStore(mongo_client[name])
    await store.create_indexes()
    cipher = PersonalDataCipher([Fernet.generate_key()])
    now = datetime.now(UTC)
    events = _events()
    entries: list[AuditEntry] = []
    head = ChainHead()
    for first in range(0, SIZE, 1000):
        drafts = [
            draft_entry(event, trace_id=None, recorded_at=now, cipher=cipher)
            for event in events[first : first + 1000]
        ]
        sealed = seal_run(drafts, head)
        await store.insert_entries(sealed)
        head = ChainHead(sealed[-1].seq, sealed[-1].entry_hash)
        entries.extend(sealed)
    yield store, entries
    await mongo_client.drop_database(name)


async def _served_by_an_index(cursor: StoreCursor) -> bool:
    explained: dict[str, Any] = await cursor.explain()
    return uses_index(explained)


async def test_the_head_read_uses_the_seq_index(
    filled: tuple[AuditStore, list[AuditEntry]],
) -> None:
    store, entries = filled
    assert await _served_by_an_index(store.head_cursor())
    assert await _served_by_an_index(store.head_cursor(at_least=SIZE - 50))
    # And it is the head: the highest seq, from the start or from a known position.
    assert (await store.head()).entry_hash == entries[-1].entry_hash
    assert (await store.head(at_least=SIZE - 50)).seq == SIZE


async def test_the_event_id_look_up_uses_its_index(
    filled: tuple[AuditStore, list[AuditEntry]],
) -> None:
    store, entries = filled
    ids = [e.event_id for e in entries[100:600]] + [str(uuid.uuid4()) for _ in range(20)]
    assert await _served_by_an_index(store.recorded_cursor(ids))
    assert await store.recorded_event_ids(ids) == {e.event_id for e in entries[100:600]}


async def test_a_dossier_trail_uses_the_dossier_index(
    filled: tuple[AuditStore, list[AuditEntry]],
) -> None:
    store, entries = filled
    dossier = entries[2500].dossier_id
    trail = EntryFilter(dossier_id=dossier)
    assert await _served_by_an_index(store.entries_cursor(trail, after_seq=0, limit=5001))
    later = entries[2502].seq
    assert await _served_by_an_index(store.entries_cursor(trail, after_seq=later, limit=5001))
    found = await store.find_entries(trail, after_seq=0, limit=5001)
    assert [d["seq"] for d in found] == [e.seq for e in entries if e.dossier_id == dossier]


@pytest.mark.parametrize("field", ["actor", "event_type", "time", "none"])
async def test_filtered_queries_and_their_keyset_pages_use_an_index(
    filled: tuple[AuditStore, list[AuditEntry]], field: str
) -> None:
    store, entries = filled
    where = {
        "actor": EntryFilter(actor="officer:cb-07"),
        "event_type": EntryFilter(event_type=DossierSubmitted.event_type),
        "time": EntryFilter(
            occurred_from=entries[3000].occurred_at, occurred_to=entries[3200].occurred_at
        ),
        "none": EntryFilter(),
    }[field]
    pages = [0, entries[3100].seq]
    for after_seq in pages:
        cursor = store.entries_cursor(where, after_seq=after_seq, limit=PAGE)
        assert await _served_by_an_index(cursor), (field, after_seq)
    # The plan answers the question: the first page holds the first matches in log order.
    first_page = await store.find_entries(where, after_seq=pages[0], limit=PAGE)
    assert first_page
    assert [d["seq"] for d in first_page] == sorted(d["seq"] for d in first_page)
    assert all(d["seq"] > pages[0] for d in first_page)


async def test_the_issue_look_up_by_document_hash_uses_an_index(
    filled: tuple[AuditStore, list[AuditEntry]],
) -> None:
    store, _ = filled
    # A verifier's question is mostly about bytes nobody issued: the index must answer
    # "none" without reading the log.
    sha256 = uuid.uuid4().hex * 2
    assert await _served_by_an_index(store.issue_cursor(sha256))
    # By the hash's own index, not by reading every issue through the event type's.
    explained = await store.issue_cursor(sha256).explain()
    assert "payload.sha256_1_seq_1" in json.dumps(explained, default=str)
    assert await store.find_issue(sha256) is None
