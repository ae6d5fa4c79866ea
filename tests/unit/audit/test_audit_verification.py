from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.domain.chain import GENESIS_PREV_HASH, AuditEntry, leaf_bytes, seal
from audit.domain.checkpoint import Checkpoint, generate_private_key, sign_checkpoint
from audit.domain.export import entry_to_line, iter_entries
from audit.domain.failures import FailureReason
from audit.domain.merkle import EMPTY_ROOT, CompactRange, leaf_hash, root
from audit.domain.verification import VerificationReport, verify_log


class SampleLog(Protocol):
    """Shape of the ``sample_log`` fixture's result."""

    entries: list[AuditEntry]
    checkpoints: list[Checkpoint]


BuildLog = Callable[..., SampleLog]


def resealed_from(entries: list[AuditEntry], index: int, **changes: object) -> None:
    """Rewrite entry ``index`` and re-seal it and every later entry: a valid chain again."""
    prev = entries[index - 1].entry_hash if index else GENESIS_PREV_HASH
    for position in range(index, len(entries)):
        fields = entries[position].model_dump(exclude={"entry_hash"})
        fields["prev_hash"] = prev
        if position == index:
            fields.update(changes)
        entries[position] = seal(**fields)
        prev = entries[position].entry_hash


def run(log: SampleLog, key: Ed25519PrivateKey) -> VerificationReport:
    return verify_log(log.entries, log.checkpoints, key.public_key())


def failure(report: VerificationReport) -> tuple[int, FailureReason]:
    assert not report.ok
    assert report.first_failure is not None
    return report.first_failure.seq, report.first_failure.reason


def test_failure_reasons_are_plain_words() -> None:
    assert FailureReason.ENTRY_EDITED == "entry edited (hash mismatch)"
    assert FailureReason.ENTRY_MISSING == "entry missing (sequence gap)"
    assert FailureReason.ENTRY_INSERTED_OR_REORDERED == "entry inserted or reordered"
    assert FailureReason.CHECKPOINT_ROOT_MISMATCH == "checkpoint root mismatch"
    assert FailureReason.CHECKPOINT_SIGNATURE_INVALID == "checkpoint signature invalid"


def test_intact_log(sample_log: BuildLog, signing_key: Ed25519PrivateKey) -> None:
    log = sample_log(95, every=10)
    report = run(log, signing_key)
    assert report.ok
    assert report.first_failure is None
    assert report.entries_checked == 95
    assert report.checkpoints_checked == 9
    assert report.checkpointed_size == 90
    assert report.tree_size == 95
    assert report.root_hash == root([leaf_hash(leaf_bytes(e)) for e in log.entries]).hex()
    assert report.last_entry_hash == log.entries[-1].entry_hash


def test_checkpoint_order_does_not_matter(
    sample_log: BuildLog, signing_key: Ed25519PrivateKey
) -> None:
    log = sample_log(95, every=10)
    log.checkpoints.reverse()
    assert run(log, signing_key).checkpoints_checked == 9


def test_empty_log_with_empty_checkpoint(
    signing_key: Ed25519PrivateKey,
    checkpoints_for: Callable[..., list[Checkpoint]],
) -> None:
    checkpoints = checkpoints_for([], [0], signing_key)
    report = verify_log([], checkpoints, signing_key.public_key())
    assert report.ok
    assert report.checkpoints_checked == 1
    assert report.root_hash == EMPTY_ROOT.hex()
    assert report.last_entry_hash == GENESIS_PREV_HASH


def test_edit_is_reported_at_its_seq(sample_log: BuildLog, signing_key: Ed25519PrivateKey) -> None:
    log = sample_log()
    log.entries[41] = log.entries[41].model_copy(update={"actor": "officer:intruder"})
    report = run(log, signing_key)
    assert failure(report) == (42, FailureReason.ENTRY_EDITED)
    assert report.entries_checked == 41
    assert report.checkpoints_checked == 4


def test_deletion_is_reported_at_its_seq(
    sample_log: BuildLog, signing_key: Ed25519PrivateKey
) -> None:
    log = sample_log()
    del log.entries[41]
    assert failure(run(log, signing_key)) == (42, FailureReason.ENTRY_MISSING)


def test_insertion_is_reported_at_its_seq(
    sample_log: BuildLog, signing_key: Ed25519PrivateKey, make_entry: Callable[..., AuditEntry]
) -> None:
    log = sample_log()
    log.entries.insert(41, make_entry(42, log.entries[40].entry_hash, actor="officer:intruder"))
    assert failure(run(log, signing_key)) == (42, FailureReason.ENTRY_INSERTED_OR_REORDERED)


def test_swap_is_reported_at_its_seq(sample_log: BuildLog, signing_key: Ed25519PrivateKey) -> None:
    log = sample_log()
    log.entries[41], log.entries[42] = log.entries[42], log.entries[41]
    assert failure(run(log, signing_key)) == (42, FailureReason.ENTRY_INSERTED_OR_REORDERED)


def test_resealed_history_is_caught_by_the_next_checkpoint(
    sample_log: BuildLog, signing_key: Ed25519PrivateKey
) -> None:
    log = sample_log()
    resealed_from(log.entries, 41, payload={"decision": "approved"})
    report = run(log, signing_key)
    assert failure(report) == (50, FailureReason.CHECKPOINT_ROOT_MISMATCH)
    assert report.checkpoints_checked == 4
    assert report.checkpointed_size == 40


def test_truncated_tail_is_caught_by_a_checkpoint(
    sample_log: BuildLog, signing_key: Ed25519PrivateKey
) -> None:
    log = sample_log()
    del log.entries[84:]
    report = run(log, signing_key)
    assert failure(report) == (85, FailureReason.LOG_TRUNCATED)
    assert report.entries_checked == 84


def test_tail_after_last_checkpoint_is_chain_only(
    sample_log: BuildLog, signing_key: Ed25519PrivateKey
) -> None:
    # Documented limit: entries newer than the newest checkpoint can be dropped unnoticed,
    # which the report makes visible through checkpointed_size < tree_size.
    log = sample_log()
    del log.entries[92:]
    report = run(log, signing_key)
    assert report.ok
    assert report.tree_size == 92
    assert report.checkpointed_size == 90


def test_foreign_checkpoint_is_reported(
    sample_log: BuildLog, signing_key: Ed25519PrivateKey
) -> None:
    log = sample_log()
    forged = log.checkpoints[2].model_copy(update={"root_hash": "00" * 32})
    log.checkpoints[2] = forged
    assert failure(run(log, signing_key)) == (30, FailureReason.CHECKPOINT_SIGNATURE_INVALID)


def test_checkpoint_from_another_key_is_reported(sample_log: BuildLog) -> None:
    log = sample_log()
    report = verify_log(log.entries, log.checkpoints, generate_private_key().public_key())
    assert failure(report) == (10, FailureReason.CHECKPOINT_SIGNATURE_INVALID)


def test_forged_checkpoint_beyond_the_end_is_a_signature_failure(
    sample_log: BuildLog, signing_key: Ed25519PrivateKey
) -> None:
    log = sample_log()
    bogus = log.checkpoints[-1].model_copy(update={"tree_size": 10_000})
    log.checkpoints.append(bogus)
    assert failure(run(log, signing_key)) == (10_000, FailureReason.CHECKPOINT_SIGNATURE_INVALID)


def test_validly_signed_wrong_root(sample_log: BuildLog, signing_key: Ed25519PrivateKey) -> None:
    log = sample_log()
    original = log.checkpoints[3]
    log.checkpoints[3] = sign_checkpoint(
        signing_key,
        log_id=original.log_id,
        tree_size=original.tree_size,
        root_hash="11" * 32,
        last_entry_hash=original.last_entry_hash,
        issued_at=original.issued_at,
    )
    assert failure(run(log, signing_key)) == (40, FailureReason.CHECKPOINT_ROOT_MISMATCH)


def test_validly_signed_wrong_last_entry(
    sample_log: BuildLog, signing_key: Ed25519PrivateKey
) -> None:
    log = sample_log()
    original = log.checkpoints[3]
    log.checkpoints[3] = sign_checkpoint(
        signing_key,
        log_id=original.log_id,
        tree_size=original.tree_size,
        root_hash=original.root_hash,
        last_entry_hash="22" * 32,
        issued_at=original.issued_at,
    )
    assert failure(run(log, signing_key)) == (40, FailureReason.CHECKPOINT_LAST_ENTRY_MISMATCH)


def test_unreadable_line_is_reported_at_its_seq(
    sample_log: BuildLog, signing_key: Ed25519PrivateKey
) -> None:
    log = sample_log()
    lines = [entry_to_line(entry) for entry in log.entries]
    lines[60] = lines[60].replace('"seq":61', '"seq":"61"')
    report = verify_log(iter_entries(lines), log.checkpoints, signing_key.public_key())
    assert failure(report) == (61, FailureReason.ENTRY_UNREADABLE)
    assert report.entries_checked == 60
    assert report.checkpoints_checked == 6


def test_segment_verification_with_saved_merkle_state(
    sample_log: BuildLog, signing_key: Ed25519PrivateKey
) -> None:
    log = sample_log()
    state = CompactRange()
    state.extend(leaf_hash(leaf_bytes(e)) for e in log.entries[:40])
    report = verify_log(
        log.entries[40:],
        log.checkpoints,
        signing_key.public_key(),
        start_prev_hash=log.entries[39].entry_hash,
        start_seq=41,
        start_range=state,
    )
    assert report.ok
    assert report.entries_checked == 55
    assert report.checkpoints_checked == 6  # sizes 40 (the starting point) to 90
    assert report.tree_size == 95
    assert state.size == 40  # the caller's state is not consumed


def test_segment_needs_matching_merkle_state(
    sample_log: BuildLog, signing_key: Ed25519PrivateKey
) -> None:
    log = sample_log()
    with pytest.raises(ValueError, match="start_range"):
        verify_log(log.entries[40:], [], signing_key.public_key(), start_seq=41)
    with pytest.raises(ValueError, match="start_range covers"):
        verify_log(
            log.entries[40:], [], signing_key.public_key(), start_seq=41, start_range=CompactRange()
        )
