"""Full verification of an audit log against its signed checkpoints.

``verify_log`` reads the entries once, in seq order, and for each audit entry:

1. checks the hash chain (``audit.domain.chain.ChainVerifier``): content, seq and link;
2. appends the entry's leaf to a ``CompactRange`` so the Merkle root of every prefix is known
   without keeping the prefix;
3. when the log reaches a checkpoint's ``tree_size``, checks the checkpoint's signature, then
   its ``root_hash`` against the recomputed root and its ``last_entry_hash`` against the
   chain head.

Memory is O(log n) for the tree plus the checkpoints (which are few: one per sealing batch or
period). The chain catches edits, gaps, insertions and reorderings; the checkpoints catch what
a chain cannot -- entries removed from the end, or a rewritten and re-sealed stretch of log --
as far as the last checkpoint. Entries after the last checkpoint are protected by the chain
only; ``VerificationReport.checkpointed_size`` tells how far signed evidence reaches.

Verification stops at the first failure, which is what an auditor needs: everything before it
is proven, nothing after it can be trusted without further investigation.
"""

from __future__ import annotations

from collections.abc import Iterable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict

from audit.domain.chain import (
    GENESIS_PREV_HASH,
    AuditEntry,
    ChainVerifier,
    MalformedEntryError,
    leaf_bytes,
    with_lookahead,
)
from audit.domain.checkpoint import Checkpoint, verify_checkpoint
from audit.domain.failures import Failure, FailureReason
from audit.domain.merkle import CompactRange, leaf_hash

__all__ = ["VerificationReport", "verify_log"]


class VerificationReport(BaseModel):
    """Outcome of ``verify_log``.

    ``entries_checked`` counts entries that passed the chain check; ``checkpoints_checked``
    counts checkpoints whose signature, root and last entry hash all matched.
    ``tree_size``, ``root_hash`` and ``last_entry_hash`` describe the verified prefix (the
    whole log when ``ok``); ``checkpointed_size`` is the largest tree size vouched for by a
    verified checkpoint.
    """

    model_config = ConfigDict(frozen=True)

    ok: bool
    entries_checked: int
    checkpoints_checked: int
    tree_size: int
    root_hash: str
    last_entry_hash: str
    checkpointed_size: int
    first_failure: Failure | None = None


def _check_checkpoint(
    checkpoint: Checkpoint, public_key: Ed25519PublicKey, tree: CompactRange, head_hash: str
) -> Failure | None:
    # Signature first: the content of an unsigned checkpoint proves nothing either way.
    if not verify_checkpoint(checkpoint, public_key):
        return Failure(
            seq=checkpoint.tree_size,
            reason=FailureReason.CHECKPOINT_SIGNATURE_INVALID,
            detail=f"checkpoint of size {checkpoint.tree_size} issued at "
            f"{checkpoint.issued_at} (key id {checkpoint.key_id})",
        )
    actual_root = tree.root().hex()
    if checkpoint.root_hash != actual_root:
        return Failure(
            seq=checkpoint.tree_size,
            reason=FailureReason.CHECKPOINT_ROOT_MISMATCH,
            detail=f"checkpoint of size {checkpoint.tree_size} signs root "
            f"{checkpoint.root_hash[:16]}…, the entries give {actual_root[:16]}…; "
            f"entries up to seq {checkpoint.tree_size} were rewritten",
        )
    if checkpoint.last_entry_hash != head_hash:
        return Failure(
            seq=checkpoint.tree_size,
            reason=FailureReason.CHECKPOINT_LAST_ENTRY_MISMATCH,
            detail=f"checkpoint signs entry_hash {checkpoint.last_entry_hash[:16]}… for seq "
            f"{checkpoint.tree_size}, the log has {head_hash[:16]}…",
        )
    return None


def verify_log(
    entries: Iterable[AuditEntry],
    checkpoints: Iterable[Checkpoint],
    public_key: Ed25519PublicKey,
    start_prev_hash: str = GENESIS_PREV_HASH,
    start_seq: int = 1,
    *,
    start_range: CompactRange | None = None,
) -> VerificationReport:
    """Verify entries (in seq order) and checkpoints (any order) in a single pass.

    To verify a segment that does not begin at seq 1, pass ``start_prev_hash`` (entry_hash of
    seq ``start_seq - 1``) and ``start_range``, the Merkle state after ``start_seq - 1``
    entries -- without it the checkpoint roots cannot be recomputed. Checkpoints smaller than
    ``start_seq - 1`` fall outside the segment and are ignored.

    ``entries`` may raise ``MalformedEntryError`` for an unparseable record; that is reported
    as "entry unreadable" at the seq where it occurs.
    """
    if start_range is None:
        if start_seq != 1:
            raise ValueError("verifying from start_seq > 1 needs the start_range Merkle state")
        start_range = CompactRange()
    elif start_range.size != start_seq - 1:
        raise ValueError(
            f"start_range covers {start_range.size} entries, start_seq {start_seq} needs "
            f"{start_seq - 1}"
        )
    tree = start_range.copy()
    chain = ChainVerifier(start_prev_hash, start_seq)
    pending = sorted(
        (c for c in checkpoints if c.tree_size >= tree.size), key=lambda c: c.tree_size
    )
    next_index = 0
    checkpoints_checked = 0
    checkpointed_size = 0

    def checkpoints_at_current_size() -> Failure | None:
        nonlocal next_index, checkpoints_checked, checkpointed_size
        while next_index < len(pending) and pending[next_index].tree_size == tree.size:
            failure = _check_checkpoint(pending[next_index], public_key, tree, chain.head_hash)
            if failure is not None:
                return failure
            next_index += 1
            checkpoints_checked += 1
            checkpointed_size = tree.size
        return None

    failure = checkpoints_at_current_size()
    if failure is None:
        try:
            for entry, following in with_lookahead(entries):
                failure = chain.check(entry, following)
                if failure is not None:
                    break
                tree.append(leaf_hash(leaf_bytes(entry)))
                failure = checkpoints_at_current_size()
                if failure is not None:
                    break
        except MalformedEntryError as exc:
            failure = chain.unreadable(exc)

    if failure is None and next_index < len(pending):
        # A signed checkpoint beyond the last entry: the tail of the log was removed.
        beyond = pending[next_index]
        if not verify_checkpoint(beyond, public_key):
            failure = _check_checkpoint(beyond, public_key, tree, chain.head_hash)
        else:
            failure = Failure(
                seq=tree.size + 1,
                reason=FailureReason.LOG_TRUNCATED,
                detail=f"a signed checkpoint covers {beyond.tree_size} entries, the log ends "
                f"at seq {tree.size}",
            )

    return VerificationReport(
        ok=failure is None,
        entries_checked=chain.entries_checked,
        checkpoints_checked=checkpoints_checked,
        tree_size=tree.size,
        root_hash=tree.root().hex(),
        last_entry_hash=chain.head_hash,
        checkpointed_size=checkpointed_size,
        first_failure=failure,
    )
