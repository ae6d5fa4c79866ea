"""Every use case of the audit service, run against the in-memory store: recording (with the
fencing that lets replicas share one chain), checkpoints, verification, proofs and what an
auditor reads."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.domain.chain import AuditEntry, compute_entry_hash, leaf_bytes, verify_chain
from audit.domain.checkpoint import Checkpoint, key_id, verify_checkpoint
from audit.domain.failures import FailureReason
from audit.domain.merkle import CompactRange, leaf_hash, verify_consistency, verify_inclusion
from audit.domain.personal_data import ENCRYPTED_PREFIX, PersonalDataCipher
from audit.domain.recording import ChainHead, draft_entry, seal_run
from audit.service.auditors import AuditService, ExportView, LimitTooLarge, NoCheckpointYet
from audit.service.checkpointing import make_checkpoint
from audit.service.ports import EntryFilter
from audit.service.recording import EventRecorder, IncomingEvent, TooManyConflicts
from audit.service.verification import (
    CheckpointNotFound,
    InvalidRange,
    LogMismatch,
    ProofNotPossible,
    check_range,
    prove_consistency,
    prove_inclusion,
    verify_range,
)
from chassis.events import DossierStatusChanged, Envelope, Recipient, make_event
from tests.unit.audit.fakes import FakeAuditLog, StoreDown

CIPHER = PersonalDataCipher([Fernet.generate_key()])
KEY = Ed25519PrivateKey.generate()
START = datetime(2025, 3, 4, 5, 0, 0, tzinfo=UTC)
PHONE = "0912345678"


def _now() -> datetime:
    return START


def event(number: int, dossier: str = "d-1", *, actor: str = "officer:cb-01") -> Envelope:
    return make_event(
        DossierStatusChanged(
            dossier_id=dossier,
            receipt_code="HS-1",
            procedure_code="MT-01",
            procedure_name_vi="Cấp phép",
            procedure_name_en="Licence",
            agency="STNMT",
            agency_name_vi="Sở",
            agency_name_en="Department",
            old_status="received",
            new_status=f"step-{number}",
            action="approve",
            occurred_at=START,
            version=number,
            recipient=Recipient(display_name="Lê Văn C", phone=PHONE),
        ),
        source="/hoso/processing",
        actor=actor,
        time=START + timedelta(seconds=number),
    )


def incoming(envelope: Envelope, partition: int = 0) -> IncomingEvent:
    return IncomingEvent(envelope, trace_id=None, stream=("dossier.lifecycle", partition))


def recorder(store: FakeAuditLog, **options: object) -> EventRecorder:
    async def no_wait(_: float) -> None:
        await asyncio.sleep(0)

    return EventRecorder(
        store,
        CIPHER,
        **{  # type: ignore[arg-type]
            "retry_delay": lambda attempt: float(attempt),
            "unreachable": lambda exc: isinstance(exc, StoreDown),
            "clock": _now,
            "sleep": no_wait,
            **options,
        },
    )


def recorded_event_ids(store: FakeAuditLog) -> list[str]:
    return [e.event_id for e in store.entries()]


def assert_one_gap_free_chain(store: FakeAuditLog) -> None:
    entries = store.entries()
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert verify_chain(entries).ok


async def filled(count: int, *, dossiers: int = 1) -> FakeAuditLog:
    store = FakeAuditLog()
    await recorder(store).record(
        [incoming(event(n, f"d-{n % dossiers}")) for n in range(1, count + 1)]
    )
    return store


# ---------------------------------------------------------------------------- recording


async def test_a_batch_is_recorded_once_in_time_order_duplicates_skipped() -> None:
    store = FakeAuditLog()
    events = [event(n) for n in range(1, 6)]
    # Two partitions, each in order; the batch repeats one event.
    batch = [incoming(events[1], 1), incoming(events[3], 1), incoming(events[0], 0)]
    batch += [incoming(events[2], 0), incoming(events[4], 0), incoming(events[2], 0)]

    outcome = await recorder(store).record(batch)

    assert (outcome.appended, outcome.skipped, outcome.conflicts) == (5, 1, 0)
    assert recorded_event_ids(store) == [e.id for e in events]
    assert_one_gap_free_chain(store)

    again = await recorder(store).record(batch)
    assert (again.appended, again.skipped) == (0, 6)
    assert len(store.documents) == 5


async def test_personal_data_is_sealed_encrypted() -> None:
    store = FakeAuditLog()
    await recorder(store).record([incoming(event(1))])
    payload = store.documents[1]["payload"]
    assert payload["recipient"]["phone"].startswith(ENCRYPTED_PREFIX)
    assert PHONE not in str(store.documents[1])


async def test_a_replica_that_loses_the_race_reseals_on_the_new_head() -> None:
    store = await filled(2)
    other = recorder(store)
    mine = [incoming(event(n)) for n in range(10, 13)]

    async def other_replica_appends() -> None:
        await other.record([incoming(event(n)) for n in range(20, 22)])

    me = recorder(store)
    await me.load_head()
    store.before_insert.append(other_replica_appends)
    outcome = await me.record(mine)

    assert (outcome.appended, outcome.conflicts) == (3, 1)
    assert len(store.documents) == 7
    assert recorded_event_ids(store)[-3:] == [e.envelope.id for e in mine]
    assert_one_gap_free_chain(store)
    assert me.head is not None
    assert me.head.seq == 7


async def test_an_entry_sealed_again_after_a_lost_race_is_recorded_after_the_winner() -> None:
    store = FakeAuditLog()
    ticks = iter(range(1_000))

    def clock() -> datetime:
        return START + timedelta(milliseconds=10 * next(ticks))

    async def no_wait(_: float) -> None:
        await asyncio.sleep(0)

    def replica() -> EventRecorder:
        return EventRecorder(
            store,
            CIPHER,
            retry_delay=float,
            unreachable=lambda exc: isinstance(exc, StoreDown),
            clock=clock,
            sleep=no_wait,
        )

    me, other = replica(), replica()
    mine = [incoming(event(n)) for n in range(1, 3)]
    drafts = me.drafts_of(mine)  # stamped now, before the other replica's entries

    async def other_replica_appends() -> None:
        await other.record([incoming(event(n)) for n in range(20, 22)])

    store.before_insert.append(other_replica_appends)
    await me.append(drafts)

    entries = store.entries()
    assert [e.event_id for e in entries[-2:]] == [e.envelope.id for e in mine]
    stamps = [e.recorded_at for e in entries]
    assert stamps == sorted(stamps), stamps
    assert_one_gap_free_chain(store)


async def test_an_event_recorded_elsewhere_meanwhile_stops_the_insert_and_is_skipped() -> None:
    store = FakeAuditLog()
    events = [event(n) for n in range(1, 5)]

    async def rebalanced_partition_recorded_by_another_replica() -> None:
        await recorder(store).record([incoming(events[2])])

    store.before_insert.append(rebalanced_partition_recorded_by_another_replica)
    outcome = await recorder(store).record([incoming(e) for e in events])

    # The other replica's entry took seq 1, so the run met it at once and was re-sealed
    # without the event it had recorded.
    assert (outcome.appended, outcome.conflicts) == (3, 1)
    assert outcome.skipped == 1
    assert sorted(recorded_event_ids(store)) == sorted(e.id for e in events)
    assert_one_gap_free_chain(store)


async def test_a_run_that_lands_partly_keeps_its_prefix() -> None:
    store = FakeAuditLog()
    events = [event(n) for n in range(1, 6)]
    foreign = [
        draft_entry(event(n), trace_id=None, recorded_at=START, cipher=CIPHER) for n in (7, 8, 9)
    ]

    async def another_writer_takes_seq_3() -> None:
        store.put(seal_run(foreign, ChainHead())[2:])

    store.before_insert.append(another_writer_takes_seq_3)
    outcome = await recorder(store).record([incoming(e) for e in events])

    # Seq 1 and 2 of the run landed; the other three were re-sealed after the taken seq 3.
    assert (outcome.appended, outcome.conflicts) == (5, 1)
    assert [store.documents[p]["event_id"] for p in sorted(store.documents)] == [
        events[0].id,
        events[1].id,
        foreign[2].event_id,
        events[2].id,
        events[3].id,
        events[4].id,
    ]
    assert store.documents[4]["prev_hash"] == store.documents[3]["entry_hash"]


async def test_replicas_appending_at_once_share_one_chain() -> None:
    store = FakeAuditLog()
    batches = [[incoming(event(100 * r + n, f"d-{r}")) for n in range(8)] for r in range(3)]
    replicas = [recorder(store) for _ in batches]

    await asyncio.gather(*(r.record(b) for r, b in zip(replicas, batches, strict=True)))

    assert sorted(recorded_event_ids(store)) == sorted(e.envelope.id for b in batches for e in b)
    assert_one_gap_free_chain(store)


async def test_an_unreachable_store_is_waited_out() -> None:
    store = FakeAuditLog()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    store.outages = 3
    appender = EventRecorder(
        store,
        CIPHER,
        retry_delay=lambda attempt: 0.5 * attempt,
        unreachable=lambda exc: isinstance(exc, StoreDown),
        clock=_now,
        sleep=sleep,
    )
    outcome = await appender.record([incoming(event(1)), incoming(event(2))])

    assert waits == [0.5, 1.0, 1.5]
    assert outcome.appended == 2
    assert_one_gap_free_chain(store)


async def test_other_errors_are_not_waited_out() -> None:
    store = FakeAuditLog()
    store.outages = 1
    appender = EventRecorder(store, CIPHER, retry_delay=lambda _: 0.0, clock=_now)
    with pytest.raises(StoreDown):
        await appender.record([incoming(event(1))])


async def test_endless_conflicts_give_the_batch_back() -> None:
    store = FakeAuditLog()

    async def always_one_ahead() -> None:
        head = await store.head()
        envelope = event(10_000 + head.seq)
        draft = draft_entry(envelope, trace_id=None, recorded_at=START, cipher=CIPHER)
        store.put(seal_run([draft], head))
        store.before_insert.append(always_one_ahead)

    store.before_insert.append(always_one_ahead)
    with pytest.raises(TooManyConflicts) as refused:
        await recorder(store, jitter=lambda _: 0.0).record([incoming(event(1))])
    assert refused.value.outcome.conflicts == 100
    assert refused.value.outcome.appended == 0


# ---------------------------------------------------------------------------- checkpoints


async def checkpoint(store: FakeAuditLog) -> Checkpoint | None:
    return (await make_checkpoint(store, KEY, log_id="test", clock=_now, read_batch=3)).checkpoint


def tree_of(entries: list[AuditEntry]) -> CompactRange:
    tree = CompactRange()
    tree.extend(leaf_hash(leaf_bytes(e)) for e in entries)
    return tree


async def test_a_checkpoint_signs_the_grown_log_and_resumes_from_its_frontier() -> None:
    store = await filled(7)
    first = await checkpoint(store)
    assert first is not None
    assert first.tree_size == 7
    assert verify_checkpoint(first, KEY.public_key())
    assert first.root_hash == tree_of(store.entries()).root().hex()
    assert first.last_entry_hash == store.entries()[-1].entry_hash
    assert await checkpoint(store) is None  # nothing new

    await recorder(store).record([incoming(event(n)) for n in range(50, 54)])
    second = await checkpoint(store)
    assert second is not None
    assert second.tree_size == 11
    assert second.root_hash == tree_of(store.entries()).root().hex()
    assert sorted(store.checkpoint_documents_by_size) == [7, 11]


async def test_a_broken_chain_is_never_signed_over() -> None:
    store = await filled(8)
    store.documents[5]["actor"] = "officer:someone-else"

    result = await make_checkpoint(store, KEY, log_id="test", clock=_now)

    assert result.failure is not None
    assert result.failure.seq == 5
    assert result.failure.reason == FailureReason.ENTRY_EDITED
    assert result.checkpoint is not None
    assert result.checkpoint.tree_size == 4
    again = await make_checkpoint(store, KEY, log_id="test", clock=_now)
    assert again.checkpoint is None
    assert again.failure is not None
    assert again.failure.seq == 5


async def test_a_size_another_replica_signed_first_is_left_alone() -> None:
    store = await filled(3)
    theirs = await make_checkpoint(
        await filled(3), KEY, log_id="test", clock=lambda: START - timedelta(hours=1)
    )
    assert theirs.checkpoint is not None

    async def other_replica_stores_size_3() -> None:
        assert theirs.checkpoint is not None
        await store.insert_checkpoint(theirs.checkpoint, tree_of(store.entries()).frontier)

    store.before_checkpoint_insert.append(other_replica_stores_size_3)
    assert await checkpoint(store) is None
    stored = await store.checkpoint(3)
    assert stored is not None
    assert stored.checkpoint == theirs.checkpoint


async def test_an_unreadable_newest_checkpoint_is_rebuilt_from_seq_1() -> None:
    store = await filled(4)
    await checkpoint(store)
    store.checkpoint_documents_by_size[4]["root_hash"] = "not hex"
    await recorder(store).record([incoming(event(60))])

    rebuilt = await checkpoint(store)

    assert rebuilt is not None
    assert rebuilt.tree_size == 5
    assert rebuilt.root_hash == tree_of(store.entries()).root().hex()


# ---------------------------------------------------------------------------- verification


async def signed_log(count: int, every: int) -> FakeAuditLog:
    store = FakeAuditLog()
    writer = recorder(store)
    for start in range(1, count + 1, every):
        await writer.record([incoming(event(n)) for n in range(start, start + every)])
        await checkpoint(store)
    return store


async def test_an_intact_log_verifies_and_a_later_range_starts_at_a_checkpoint() -> None:
    store = await signed_log(12, every=4)
    whole = await verify_range(store, KEY.public_key())
    assert whole.report.ok
    assert whole.trusted_size == 0
    assert whole.report.entries_checked == 12
    assert whole.report.checkpoints_checked == 3

    later = await verify_range(store, KEY.public_key(), 10)
    assert later.report.ok
    assert later.trusted_size == 8
    assert later.report.entries_checked == 4

    unsigned = await verify_range(store, None, 1, 6)
    assert unsigned.report.ok
    assert unsigned.report.checkpoints_checked == 0
    assert unsigned.report.entries_checked == 6


async def test_verification_names_the_first_edited_entry() -> None:
    store = await signed_log(12, every=4)
    store.documents[6]["payload"]["fee_vnd"] = 1

    result = await verify_range(store, KEY.public_key())

    assert not result.report.ok
    assert result.report.first_failure is not None
    assert result.report.first_failure.seq == 6


async def test_a_checkpoint_signed_by_another_key_fails_verification() -> None:
    store = await signed_log(4, every=4)
    result = await verify_range(store, Ed25519PrivateKey.generate().public_key())
    assert not result.report.ok
    assert result.report.first_failure is not None
    assert result.report.first_failure.reason == FailureReason.CHECKPOINT_SIGNATURE_INVALID


def test_an_empty_range_is_refused() -> None:
    check_range(1, None)
    check_range(3, 3)
    for bad in ((0, None), (5, 4)):
        with pytest.raises(InvalidRange):
            check_range(*bad)


# ---------------------------------------------------------------------------- proofs


async def test_an_inclusion_proof_checks_against_the_signed_root() -> None:
    store = await signed_log(12, every=4)
    proof = await prove_inclusion(store, 5)
    assert proof.checkpoint.tree_size == 12
    leaf = leaf_hash(bytes.fromhex(str(proof.entry["entry_hash"])))
    root = bytes.fromhex(proof.checkpoint.root_hash)
    assert verify_inclusion(leaf, 4, 12, proof.path, root)

    older = await prove_inclusion(store, 3, 4)
    assert older.checkpoint.tree_size == 4
    assert verify_inclusion(
        leaf_hash(bytes.fromhex(str(older.entry["entry_hash"]))),
        2,
        4,
        older.path,
        bytes.fromhex(older.checkpoint.root_hash),
    )


async def test_inclusion_refusals() -> None:
    with pytest.raises(CheckpointNotFound):
        await prove_inclusion(await filled(3), 1)
    store = await signed_log(8, every=4)
    with pytest.raises(CheckpointNotFound):
        await prove_inclusion(store, 1, 5)
    with pytest.raises(ProofNotPossible):
        await prove_inclusion(store, 9)
    store.documents[2]["entry_hash"] = compute_entry_hash(store.entries()[0])
    with pytest.raises(LogMismatch):
        await prove_inclusion(store, 1)


async def test_a_consistency_proof_links_two_checkpoints() -> None:
    store = await signed_log(12, every=4)
    proof = await prove_consistency(store, 4)
    assert (proof.first.tree_size, proof.second.tree_size) == (4, 12)
    assert verify_consistency(
        4,
        12,
        bytes.fromhex(proof.first.root_hash),
        bytes.fromhex(proof.second.root_hash),
        proof.path,
    )
    with pytest.raises(ProofNotPossible):
        await prove_consistency(store, 12, 4)
    del store.documents[12]
    with pytest.raises(LogMismatch):
        await prove_consistency(store, 4, 12)


# ---------------------------------------------------------------------------- auditors


def auditors(store: FakeAuditLog, *, page_max: int = 5, trail_max: int = 50) -> AuditService:
    return AuditService(
        store=store,
        cipher=CIPHER,
        public_key=KEY.public_key(),
        ephemeral_key=False,
        log_id="test",
        page_size_max=page_max,
        trail_size_max=trail_max,
        read_batch=10,
    )


async def test_entries_come_a_page_at_a_time_in_log_order() -> None:
    service = auditors(await filled(9, dossiers=3))
    first = await service.entries(EntryFilter(), after_seq=0, limit=4, cleared=False)
    assert [d["seq"] for d in first.documents] == [1, 2, 3, 4]
    assert first.has_more
    last = await service.entries(EntryFilter(), after_seq=8, limit=4, cleared=False)
    assert [d["seq"] for d in last.documents] == [9]
    assert not last.has_more

    trail = await service.dossier_trail("d-1", after_seq=0, limit=50, cleared=False)
    assert [d["seq"] for d in trail.documents] == [1, 4, 7]
    assert {d["dossier_id"] for d in trail.documents} == {"d-1"}

    with pytest.raises(LimitTooLarge):
        await service.entries(EntryFilter(), after_seq=0, limit=6, cleared=False)
    with pytest.raises(LimitTooLarge):
        await service.dossier_trail("d-1", after_seq=0, limit=51, cleared=False)


async def test_filters_select_by_actor_type_and_time() -> None:
    store = FakeAuditLog()
    await recorder(store).record(
        [incoming(event(n, actor=f"officer:cb-{n % 2}")) for n in range(1, 7)]
    )
    service = auditors(store)
    by_actor = await service.entries(
        EntryFilter(actor="officer:cb-1"), after_seq=0, limit=5, cleared=False
    )
    assert [d["seq"] for d in by_actor.documents] == [1, 3, 5]
    window = EntryFilter(
        occurred_from=store.documents[2]["occurred_at"],
        occurred_to=store.documents[4]["occurred_at"],
    )
    in_window = await service.entries(window, after_seq=0, limit=5, cleared=False)
    assert [d["seq"] for d in in_window.documents] == [2, 3]


async def test_personal_data_is_shown_only_with_clearance() -> None:
    service = auditors(await filled(1))
    plain = await service.entries(EntryFilter(), after_seq=0, limit=1, cleared=True)
    masked = await service.entries(EntryFilter(), after_seq=0, limit=1, cleared=False)
    assert plain.documents[0]["payload"]["recipient"]["phone"] == PHONE
    hidden = masked.documents[0]["payload"]["recipient"]["phone"]
    assert hidden != PHONE
    assert not hidden.startswith(ENCRYPTED_PREFIX)


async def test_exports_give_sealed_or_readable_entries() -> None:
    store = await filled(4)
    service = auditors(store)

    async def export(view: ExportView, *, after_seq: int, to_seq: int | None) -> list[Any]:
        stream = service.export_entries(
            EntryFilter(), after_seq=after_seq, to_seq=to_seq, view=view, cleared=True
        )
        return [d async for d in stream]

    # Sealed: exactly as stored, so an export verifies offline.
    assert await export("sealed", after_seq=1, to_seq=3) == [store.documents[2], store.documents[3]]
    readable = await export("readable", after_seq=0, to_seq=None)
    assert [d["seq"] for d in readable] == [1, 2, 3, 4]
    assert all(d["payload"]["recipient"]["phone"] == PHONE for d in readable)


async def test_checkpoints_are_listed_exported_and_the_newest_found() -> None:
    service = auditors(FakeAuditLog())
    with pytest.raises(NoCheckpointYet):
        await service.latest_checkpoint()

    store = await signed_log(12, every=2)
    service = auditors(store, page_max=4)
    page = await service.checkpoints(after_size=0, limit=4)
    assert [c.tree_size for c in page.checkpoints] == [2, 4, 6, 8]
    assert page.next_after_size == 8
    assert page.has_more
    rest = await service.checkpoints(after_size=8, limit=4)
    assert [c.tree_size for c in rest.checkpoints] == [10, 12]
    assert not rest.has_more
    with pytest.raises(LimitTooLarge):
        await service.checkpoints(after_size=0, limit=5)

    assert (await service.latest_checkpoint()).tree_size == 12
    exported = [d async for d in service.export_checkpoints()]
    assert [d["tree_size"] for d in exported] == [2, 4, 6, 8, 10, 12]
    assert all("frontier" not in d for d in exported)
    assert all(verify_checkpoint(Checkpoint.model_validate(d), KEY.public_key()) for d in exported)


async def test_the_service_verifies_and_proves_with_its_own_key() -> None:
    store = await signed_log(8, every=4)
    service = auditors(store)
    assert (await service.verify()).report.ok
    assert (await service.prove_inclusion(2)).checkpoint.tree_size == 8
    assert (await service.prove_consistency(4)).second.tree_size == 8


def test_the_public_key_is_published_with_its_id() -> None:
    info = auditors(FakeAuditLog()).public_key_info()
    assert info.key_id == key_id(KEY.public_key())
    assert info.pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert info.log_id == "test"
    assert info.ephemeral is False
