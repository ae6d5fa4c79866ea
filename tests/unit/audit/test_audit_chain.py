from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from audit.domain.canonical import canonical_json
from audit.domain.chain import (
    GENESIS_PREV_HASH,
    HASHED_FIELDS,
    AuditEntry,
    ChainVerifier,
    FieldChange,
    MalformedEntryError,
    compute_entry_hash,
    iso_utc,
    leaf_bytes,
    seal,
    verify_chain,
)
from audit.domain.export import entry_to_line, iter_entries, parse_entry
from audit.domain.failures import FailureReason

MakeEntry = Callable[..., AuditEntry]
BuildEntries = Callable[..., list[AuditEntry]]

BODY = {
    "seq": 1,
    "event_id": "evt-1",
    "event_type": "dossier.submitted",
    "dossier_id": "HS-2024-00001",
    "actor": "citizen:nguyen.van.a",
    "occurred_at": "2024-05-01T08:00:00Z",
    "recorded_at": "2024-05-01T08:00:01.5+07:00",
    "changes": [{"field": "status", "old": None, "new": "received"}],
    "trace_id": None,
    "payload": {"procedure": "cấp giấy chứng nhận", "pages": 3},
}


def resealed(entry: AuditEntry, **changes: object) -> AuditEntry:
    """What someone with write access to the store could forge: edited and re-hashed."""
    fields = entry.model_dump(exclude={"entry_hash"})
    fields.update(changes)
    return seal(**fields)


def edited(entry: AuditEntry, **changes: object) -> AuditEntry:
    """Content edited in place, hash left as it was."""
    return entry.model_copy(update=changes)


def test_genesis_is_64_zeros() -> None:
    assert GENESIS_PREV_HASH == "0" * 64


def test_entry_hash_is_prev_hash_bytes_then_canonical_body() -> None:
    entry = seal(**BODY, prev_hash=GENESIS_PREV_HASH)
    assert set(BODY) == set(HASHED_FIELDS)
    expected = hashlib.sha256(bytes(32) + canonical_json(BODY)).hexdigest()
    assert entry.entry_hash == expected
    assert compute_entry_hash(entry) == expected
    assert entry.prev_hash == GENESIS_PREV_HASH
    assert entry.changes == [FieldChange(field="status", old=None, new="received")]


def test_prev_hash_is_part_of_the_hash() -> None:
    a = seal(**BODY, prev_hash=GENESIS_PREV_HASH)
    b = seal(**BODY, prev_hash="ab" * 32)
    assert a.entry_hash != b.entry_hash
    assert (
        b.entry_hash == hashlib.sha256(bytes.fromhex("ab" * 32) + canonical_json(BODY)).hexdigest()
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seq", 2),
        ("event_id", "evt-2"),
        ("event_type", "dossier.rejected"),
        ("dossier_id", None),
        ("actor", "officer:x"),
        ("occurred_at", "2024-05-01T08:00:00.000001Z"),
        ("recorded_at", "2024-05-01T08:00:02+07:00"),
        ("changes", []),
        ("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"),
        ("payload", {"procedure": "cấp giấy chứng nhận", "pages": 4}),
    ],
)
def test_every_hashed_field_changes_the_hash(field: str, value: object) -> None:
    original = seal(**BODY, prev_hash=GENESIS_PREV_HASH)
    changed = seal(**{**BODY, field: value}, prev_hash=GENESIS_PREV_HASH)
    assert changed.entry_hash != original.entry_hash
    assert compute_entry_hash(edited(original, **{field: value})) != original.entry_hash


def test_key_order_of_payload_does_not_matter() -> None:
    reordered = {**BODY, "payload": dict(reversed(list(BODY["payload"].items())))}
    a = seal(**BODY, prev_hash=GENESIS_PREV_HASH)
    b = seal(**reordered, prev_hash=GENESIS_PREV_HASH)
    assert a.entry_hash == b.entry_hash


def test_seal_copies_the_payload() -> None:
    payload = {"documents": ["đơn.pdf"]}
    entry = seal(**{**BODY, "payload": payload}, prev_hash=GENESIS_PREV_HASH)
    payload["documents"].append("forged.pdf")
    assert compute_entry_hash(entry) == entry.entry_hash


def test_seal_rejects_datetimes_in_payload() -> None:
    with pytest.raises(TypeError, match="ISO-8601"):
        seal(**{**BODY, "payload": {"at": datetime.now(UTC)}}, prev_hash=GENESIS_PREV_HASH)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("occurred_at", "2024-05-01T08:00:00"),  # no offset
        ("recorded_at", "yesterday"),
        ("seq", 0),
        ("actor", ""),
        ("event_id", ""),
        ("prev_hash", "AB" * 32),  # hashes are lowercase hex
        ("prev_hash", "00"),
    ],
)
def test_seal_rejects_invalid_fields(field: str, value: object) -> None:
    fields: dict[str, object] = {**BODY, "prev_hash": GENESIS_PREV_HASH, field: value}
    with pytest.raises(ValidationError):
        seal(**fields)  # type: ignore[arg-type]


def test_entries_are_frozen_and_closed() -> None:
    entry = seal(**BODY, prev_hash=GENESIS_PREV_HASH)
    with pytest.raises(ValidationError):
        entry.actor = "someone else"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="Extra inputs"):
        AuditEntry.model_validate({**entry.model_dump(), "note": "not covered by the hash"})


def test_leaf_is_the_raw_entry_hash() -> None:
    entry = seal(**BODY, prev_hash=GENESIS_PREV_HASH)
    assert leaf_bytes(entry) == bytes.fromhex(entry.entry_hash)
    assert len(leaf_bytes(entry)) == 32


def test_ndjson_round_trip_keeps_the_hash(build_entries: BuildEntries) -> None:
    for entry in build_entries(5):
        via_model = parse_entry(entry_to_line(entry))
        # The export endpoint writes model_dump(mode="json") with the standard json module.
        via_json = parse_entry(json.dumps(entry.model_dump(mode="json")))
        assert via_model == entry
        assert via_json == entry
        assert compute_entry_hash(via_json) == entry.entry_hash


def test_parse_entry_reports_the_line() -> None:
    with pytest.raises(MalformedEntryError, match="line 7") as caught:
        parse_entry('{"seq": "1"}', 7)
    assert caught.value.line == 7
    lines = ['{"not": "an entry"}\n']
    with pytest.raises(MalformedEntryError, match="line 1"):
        list(iter_entries(lines))


def test_iso_utc() -> None:
    moment = datetime(2024, 5, 1, 15, 0, 0, 120, tzinfo=timezone(timedelta(hours=7)))
    assert iso_utc(moment) == "2024-05-01T08:00:00.000120Z"
    with pytest.raises(ValueError, match="timezone"):
        iso_utc(datetime(2024, 5, 1))


def test_intact_chain(build_entries: BuildEntries) -> None:
    entries = build_entries(50)
    report = verify_chain(entries)
    assert report.ok
    assert report.first_failure is None
    assert report.entries_checked == 50
    assert report.last_seq == 50
    assert report.last_entry_hash == entries[-1].entry_hash


def test_empty_chain() -> None:
    report = verify_chain([])
    assert report.ok
    assert report.entries_checked == 0
    assert report.last_seq == 0
    assert report.last_entry_hash == GENESIS_PREV_HASH


def test_segment_of_a_chain(build_entries: BuildEntries) -> None:
    entries = build_entries(50)
    report = verify_chain(entries[20:], start_prev_hash=entries[19].entry_hash, start_seq=21)
    assert report.ok
    assert report.entries_checked == 30
    wrong_start = verify_chain(entries[20:], start_prev_hash=entries[18].entry_hash, start_seq=21)
    assert wrong_start.first_failure is not None
    assert wrong_start.first_failure.seq == 21
    assert wrong_start.first_failure.reason is FailureReason.CHAIN_LINK_BROKEN


def test_chain_is_checked_from_a_stream(build_entries: BuildEntries) -> None:
    entries = build_entries(40)
    consumed: list[int] = []

    def stream() -> Iterator[AuditEntry]:
        for entry in entries:
            consumed.append(entry.seq)
            yield entry

    report = verify_chain(stream())
    assert report.ok
    assert consumed == list(range(1, 41))


def failure_of(entries: list[AuditEntry]) -> tuple[int, FailureReason]:
    report = verify_chain(entries)
    assert not report.ok
    assert report.first_failure is not None
    return report.first_failure.seq, report.first_failure.reason


def test_edited_field_is_reported_at_its_seq(build_entries: BuildEntries) -> None:
    entries = build_entries(40)
    entries[16] = edited(entries[16], payload={**entries[16].payload, "fee_vnd": 1})
    assert failure_of(entries) == (17, FailureReason.ENTRY_EDITED)


def test_edited_change_record_is_reported(build_entries: BuildEntries) -> None:
    entries = build_entries(40)
    entries[0] = edited(entries[0], changes=[FieldChange(field="status", old="x", new="approved")])
    assert failure_of(entries) == (1, FailureReason.ENTRY_EDITED)


def test_deleted_entry_is_reported_at_its_seq(build_entries: BuildEntries) -> None:
    entries = build_entries(40)
    del entries[16]
    assert failure_of(entries) == (17, FailureReason.ENTRY_MISSING)


def test_deleted_run_is_reported_at_its_first_seq(build_entries: BuildEntries) -> None:
    entries = build_entries(40)
    del entries[16:20]
    report = verify_chain(entries)
    assert report.first_failure is not None
    assert (report.first_failure.seq, report.first_failure.reason) == (
        17,
        FailureReason.ENTRY_MISSING,
    )
    assert "seq 17 to 20" in report.first_failure.detail
    assert report.entries_checked == 16


def test_deleted_first_entry(build_entries: BuildEntries) -> None:
    entries = build_entries(10)
    assert failure_of(entries[1:]) == (1, FailureReason.ENTRY_MISSING)


def test_inserted_forgery_is_reported_at_its_seq(
    build_entries: BuildEntries, make_entry: MakeEntry
) -> None:
    entries = build_entries(40)
    forged = make_entry(17, entries[15].entry_hash, actor="officer:intruder")
    entries.insert(16, forged)
    # The forgery itself chains correctly; the genuine seq 17 then arrives a second time.
    assert failure_of(entries) == (17, FailureReason.ENTRY_INSERTED_OR_REORDERED)


def test_inserted_entry_with_bad_hash_is_reported_as_insertion(
    build_entries: BuildEntries, make_entry: MakeEntry
) -> None:
    entries = build_entries(40)
    forged = edited(make_entry(17, entries[15].entry_hash), actor="officer:intruder")
    entries.insert(16, forged)
    assert failure_of(entries) == (17, FailureReason.ENTRY_INSERTED_OR_REORDERED)


def test_inserted_entry_with_new_seq_is_reported(
    build_entries: BuildEntries, make_entry: MakeEntry
) -> None:
    entries = build_entries(40)
    entries.insert(16, make_entry(900, entries[15].entry_hash))
    assert failure_of(entries) == (17, FailureReason.ENTRY_INSERTED_OR_REORDERED)


def test_duplicated_entry_is_reported(build_entries: BuildEntries) -> None:
    entries = build_entries(40)
    entries.insert(17, entries[16])
    assert failure_of(entries) == (17, FailureReason.ENTRY_INSERTED_OR_REORDERED)


def test_swapped_neighbours_are_reported_at_the_first(build_entries: BuildEntries) -> None:
    entries = build_entries(40)
    entries[16], entries[17] = entries[17], entries[16]
    assert failure_of(entries) == (17, FailureReason.ENTRY_INSERTED_OR_REORDERED)


def test_swapped_distant_entries_are_reported_at_the_first(build_entries: BuildEntries) -> None:
    entries = build_entries(40)
    entries[16], entries[29] = entries[29], entries[16]
    assert failure_of(entries) == (17, FailureReason.ENTRY_INSERTED_OR_REORDERED)


def test_swapped_contents_with_seq_kept_is_an_edit(build_entries: BuildEntries) -> None:
    entries = build_entries(40)
    entries[16] = entries[17].model_copy(update={"seq": 17})
    assert failure_of(entries) == (17, FailureReason.ENTRY_EDITED)


def test_resealed_entry_breaks_the_link_to_the_next(build_entries: BuildEntries) -> None:
    entries = build_entries(40)
    entries[16] = resealed(entries[16], actor="officer:intruder")
    assert failure_of(entries) == (18, FailureReason.CHAIN_LINK_BROKEN)


def test_resealed_suffix_passes_the_chain_alone(build_entries: BuildEntries) -> None:
    # Documented limit: rewriting and re-sealing everything from seq 17 on yields a valid
    # chain; only a signed checkpoint exposes it (see the verification tests).
    entries = build_entries(40)
    prev = entries[15].entry_hash
    for index in range(16, 40):
        entries[index] = resealed(entries[index], prev_hash=prev, actor="officer:intruder")
        prev = entries[index].entry_hash
    assert verify_chain(entries).ok


def test_non_canonical_content_is_unreadable(build_entries: BuildEntries) -> None:
    entries = build_entries(10)
    entries[4] = edited(entries[4], payload={"fee_vnd": float("inf")})
    assert failure_of(entries) == (5, FailureReason.ENTRY_UNREADABLE)


def test_unparseable_record_in_the_stream(build_entries: BuildEntries) -> None:
    lines = [entry_to_line(entry) for entry in build_entries(10)]
    lines[6] = '{"seq": 7, "truncated'
    report = verify_chain(iter_entries(lines))
    assert report.first_failure is not None
    assert report.first_failure.seq == 7
    assert report.first_failure.reason is FailureReason.ENTRY_UNREADABLE
    assert "line 7" in report.first_failure.detail
    assert report.entries_checked == 6


def test_unparseable_first_record() -> None:
    report = verify_chain(iter_entries(["garbage"]))
    assert report.first_failure is not None
    assert report.first_failure.seq == 1
    assert report.first_failure.reason is FailureReason.ENTRY_UNREADABLE


def test_chain_verifier_rejects_seq_zero() -> None:
    with pytest.raises(ValueError, match="seq starts at 1"):
        ChainVerifier(start_seq=0)
