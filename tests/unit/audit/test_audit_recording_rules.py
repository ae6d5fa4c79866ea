"""Drafting and sealing audit entries from events: the appender's pure rules."""

from __future__ import annotations

from datetime import UTC, date, datetime

from cryptography.fernet import Fernet

from audit.domain.chain import GENESIS_PREV_HASH, verify_chain
from audit.domain.personal_data import ENCRYPTED_PREFIX, PersonalDataCipher
from audit.domain.recording import (
    ChainHead,
    draft_entry,
    first_occurrences,
    seal_run,
)
from audit.service.recording import IncomingEvent, in_time_order
from chassis.events import (
    DossierDeadlineExtended,
    DossierStatusChanged,
    Envelope,
    FieldChange,
    Recipient,
    make_event,
)

CIPHER = PersonalDataCipher([Fernet.generate_key()])
RECORDED = datetime(2025, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
REF = {
    "dossier_id": "d-1",
    "receipt_code": "HS-1",
    "procedure_code": "MT-01",
    "procedure_name_vi": "Cấp phép",
    "procedure_name_en": "Licence",
    "agency": "STNMT",
    "agency_name_vi": "Sở",
    "agency_name_en": "Department",
}


def status_event(old: str | None = "received", new: str = "approved", **extra: object) -> Envelope:
    return make_event(
        DossierStatusChanged(
            **REF,
            old_status=old,
            new_status=new,
            action="approve",
            occurred_at=RECORDED,
            version=4,
            recipient=Recipient(display_name="Lê Văn C", phone="0912345678"),
            **extra,  # type: ignore[arg-type]
        ),
        source="/hoso/processing",
        actor="officer:cb-01",
    )


def test_a_status_change_records_the_status_move_first() -> None:
    event = status_event(changes=[FieldChange(field="assignee", old="cb-01", new="cb-02")])
    draft = draft_entry(event, trace_id="ab" * 16, recorded_at=RECORDED, cipher=CIPHER)
    assert list(draft.changes) == [
        {"field": "status", "old": "received", "new": "approved"},
        {"field": "assignee", "old": "cb-01", "new": "cb-02"},
    ]
    assert draft.dossier_id == "d-1"
    assert draft.actor == "officer:cb-01"
    assert draft.trace_id == "ab" * 16
    assert draft.recorded_at == "2025-03-04T05:06:07.890123Z"
    assert draft.payload["recipient"]["display_name"].startswith(ENCRYPTED_PREFIX)


def test_other_events_record_their_own_changes() -> None:
    event = make_event(
        DossierDeadlineExtended(
            **REF,
            old_due_date=date(2025, 3, 10),
            new_due_date=date(2025, 3, 20),
            reason="chờ ý kiến liên ngành",
            occurred_at=RECORDED,
            changes=[FieldChange(field="due_date", old="2025-03-10", new="2025-03-20")],
        ),
        source="/hoso/processing",
        actor="officer:cb-01",
    )
    draft = draft_entry(event, trace_id=None, recorded_at=RECORDED, cipher=CIPHER)
    assert list(draft.changes) == [{"field": "due_date", "old": "2025-03-10", "new": "2025-03-20"}]


def test_a_time_without_offset_is_read_as_utc() -> None:
    event = status_event().model_copy(update={"time": datetime(2025, 1, 2, 3, 4, 5)})
    draft = draft_entry(event, trace_id=None, recorded_at=RECORDED, cipher=CIPHER)
    assert draft.occurred_at == "2025-01-02T03:04:05.000000Z"


def test_duplicates_are_dropped_within_a_batch_and_against_the_log() -> None:
    events = [status_event(new=f"s{n}") for n in range(4)]
    drafts = [draft_entry(e, trace_id=None, recorded_at=RECORDED, cipher=CIPHER) for e in events]
    kept = first_occurrences([*drafts, drafts[1]], recorded=[events[0].id])
    assert [d.event_id for d in kept] == [e.id for e in events[1:]]


def test_a_sealed_run_continues_the_chain_from_its_head() -> None:
    drafts = [
        draft_entry(status_event(new=f"s{n}"), trace_id=None, recorded_at=RECORDED, cipher=CIPHER)
        for n in range(6)
    ]
    first = seal_run(drafts[:3], ChainHead())
    rest = seal_run(drafts[3:], ChainHead(first[-1].seq, first[-1].entry_hash))
    log = first + rest
    assert [e.seq for e in log] == [1, 2, 3, 4, 5, 6]
    assert log[0].prev_hash == GENESIS_PREV_HASH
    assert verify_chain(log).ok
    # Sealing is deterministic: a run re-sealed after a conflict gets the same hashes.
    assert seal_run(drafts[:3], ChainHead()) == first


def _consumed(envelope: Envelope, topic: str, partition: int) -> IncomingEvent:
    return IncomingEvent(envelope, trace_id=None, stream=(topic, partition))


def test_a_batch_is_merged_by_time_keeping_each_partitions_order() -> None:
    def at(second: int, new: str) -> Envelope:
        event = status_event(new=new)
        return event.model_copy(update={"time": datetime(2025, 1, 1, 0, 0, second, tzinfo=UTC)})

    lifecycle = [
        _consumed(at(2, "b"), "dossier.lifecycle", 0),
        _consumed(at(4, "d"), "dossier.lifecycle", 0),
    ]
    submissions = [
        _consumed(at(1, "a"), "dossier.submissions", 1),
        _consumed(at(3, "c"), "dossier.submissions", 1),
    ]
    # A partition whose clock ran behind keeps its own order all the same.
    skewed = [
        _consumed(at(9, "y"), "dossier.lifecycle", 2),
        _consumed(at(0, "z"), "dossier.lifecycle", 2),
    ]
    merged = in_time_order([*lifecycle, *submissions, *skewed])
    names = [e.envelope.data["new_status"] for e in merged]
    assert sorted(names) == ["a", "b", "c", "d", "y", "z"]
    assert names.index("a") < names.index("b") < names.index("c") < names.index("d")
    assert names.index("y") < names.index("z")
