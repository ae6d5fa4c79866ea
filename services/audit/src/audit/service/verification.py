"""Use cases: verify the stored log, and prove inclusion and consistency against checkpoints.
Shared by the API and the command line.

Verifying a range ``from_seq..to_seq`` starts at the newest checkpoint below ``from_seq``
whose signature holds and whose stored frontier reproduces its signed root: everything before
it is vouched for by the signature, so only the entries after it are read. Without such a
checkpoint verification starts at seq 1. The entries are walked in log position order, the
chain and the Merkle tree recomputed, and every checkpoint up to ``to_seq`` checked against
them (``audit.domain.verification.verify_log``); the report names the first entry that does
not match.

Proofs are computed from the stored entry hashes up to a checkpoint's tree size, after checking
that they still give the checkpoint's signed root; if they do not, the log was changed and no
proof is issued.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.domain.chain import GENESIS_PREV_HASH, AuditEntry
from audit.domain.checkpoint import Checkpoint, generate_private_key, verify_checkpoint
from audit.domain.export import MalformedCheckpointError
from audit.domain.failures import Failure, FailureReason
from audit.domain.merkle import (
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
)
from audit.domain.verification import VerificationReport, verify_log
from audit.service.paging import walk_log
from audit.service.ports import AuditLog, StoredCheckpoint

__all__ = [
    "CheckpointNotFound",
    "ConsistencyProof",
    "InclusionProof",
    "InvalidRange",
    "LogMismatch",
    "ProofNotPossible",
    "RangeVerification",
    "check_range",
    "prove_consistency",
    "prove_inclusion",
    "verify_range",
]


class CheckpointNotFound(LookupError):
    """No checkpoint of the requested tree size (or none at all)."""


class LogMismatch(RuntimeError):
    """The stored entries no longer give the root a checkpoint signed."""


class ProofNotPossible(ValueError):
    """The request names something no proof exists for (a seq beyond the checkpoint, an
    older checkpoint after a newer one)."""


class InvalidRange(ValueError):
    """A range to verify that is empty or starts before seq 1."""


@dataclass(frozen=True, slots=True)
class RangeVerification:
    from_seq: int
    to_seq: int | None
    # The checkpoint the walk started after (0: seq 1, nothing taken on trust).
    trusted_size: int
    report: VerificationReport


@dataclass(frozen=True, slots=True)
class InclusionProof:
    checkpoint: Checkpoint
    seq: int
    entry: dict[str, Any]
    path: list[bytes]


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    first: Checkpoint
    second: Checkpoint
    path: list[bytes]


def check_range(from_seq: int, to_seq: int | None) -> None:
    if from_seq < 1:
        raise InvalidRange("from_seq must be at least 1")
    if to_seq is not None and to_seq < from_seq:
        raise InvalidRange("to_seq is before from_seq")


def _usable_start(
    stored: StoredCheckpoint, public_key: Ed25519PublicKey | None
) -> CompactRange | None:
    if public_key is None or not verify_checkpoint(stored.checkpoint, public_key):
        return None
    try:
        tree = CompactRange(stored.checkpoint.tree_size, stored.frontier)
    except ValueError:
        return None
    return tree if tree.root().hex() == stored.checkpoint.root_hash else None


async def verify_range(
    store: AuditLog,
    public_key: Ed25519PublicKey | None,
    from_seq: int = 1,
    to_seq: int | None = None,
    *,
    read_batch: int = 2000,
) -> RangeVerification:
    """Verify the log from ``from_seq`` (or the checkpoint before it) to ``to_seq``.

    Without a public key the checkpoints are not checked, only the chain and the tree.
    """
    check_range(from_seq, to_seq)
    start_tree = CompactRange()
    start_hash = GENESIS_PREV_HASH
    if from_seq > 1 and public_key is not None:
        with contextlib.suppress(MalformedCheckpointError):
            stored = await store.latest_checkpoint(at_most=from_seq - 1)
            usable = _usable_start(stored, public_key) if stored else None
            if stored is not None and usable is not None:
                start_tree, start_hash = usable, stored.checkpoint.last_entry_hash
    trusted = start_tree.size
    checkpoints: list[Checkpoint] = []
    unreadable: Failure | None = None
    if public_key is not None:
        try:
            checkpoints = await store.checkpoints(after_size=trusted - 1, at_most=to_seq)
        except MalformedCheckpointError as exc:
            unreadable = Failure(
                seq=0, reason=FailureReason.CHECKPOINT_SIGNATURE_INVALID, detail=str(exc)
            )
    report = await walk_log(
        store.log_pages(after_position=start_tree.size, batch=read_batch),
        functools.partial(
            _verify_sync,
            public_key=public_key,
            start_tree=start_tree,
            start_hash=start_hash,
            checkpoints=checkpoints,
            to_seq=to_seq,
        ),
    )
    if unreadable is not None and report.ok:
        report = report.model_copy(update={"ok": False, "first_failure": unreadable})
    return RangeVerification(from_seq, to_seq, trusted, report)


def _verify_sync(
    entries: Iterator[AuditEntry],
    public_key: Ed25519PublicKey | None,
    start_tree: CompactRange,
    start_hash: str,
    checkpoints: list[Checkpoint],
    to_seq: int | None,
) -> VerificationReport:
    # Runs in a worker thread (`walk_log`). Bounded by count, not by the seq entries
    # claim: an entry whose seq was altered must still be read where it sits.
    bounded: Iterator[AuditEntry] = (
        itertools.islice(entries, max(0, to_seq - start_tree.size))
        if to_seq is not None
        else entries
    )
    # verify_log wants a key object; with no checkpoints to check it is never used.
    key = public_key or generate_private_key().public_key()
    return verify_log(
        bounded,
        checkpoints,
        key,
        start_prev_hash=start_hash,
        start_seq=start_tree.size + 1,
        start_range=start_tree,
    )


async def _checkpoint(store: AuditLog, tree_size: int | None) -> Checkpoint:
    stored = (
        await store.latest_checkpoint() if tree_size is None else await store.checkpoint(tree_size)
    )
    if stored is None:
        raise CheckpointNotFound(
            "no checkpoint yet" if tree_size is None else f"no checkpoint of size {tree_size}"
        )
    return stored.checkpoint


async def _leaves(store: AuditLog, checkpoint: Checkpoint) -> list[bytes]:
    hashes = await store.leaf_entry_hashes(checkpoint.tree_size)
    try:
        leaves = [leaf_hash(bytes.fromhex(h)) for h in hashes]
    except ValueError:
        leaves = []
    if len(leaves) != checkpoint.tree_size or len(hashes) != checkpoint.tree_size:
        raise LogMismatch(
            f"the log no longer has the {checkpoint.tree_size} entries checkpoint "
            f"{checkpoint.tree_size} signed; run verification"
        )
    return leaves


def _same_root(leaves: list[bytes], checkpoint: Checkpoint) -> None:
    if root(leaves[: checkpoint.tree_size]).hex() != checkpoint.root_hash:
        raise LogMismatch(
            f"the entries no longer give the root checkpoint {checkpoint.tree_size} "
            "signed; run verification"
        )


def _inclusion_sync(leaves: list[bytes], seq: int, checkpoint: Checkpoint) -> list[bytes]:
    _same_root(leaves, checkpoint)
    return inclusion_proof(leaves, seq - 1)


def _consistency_sync(leaves: list[bytes], first: Checkpoint, second: Checkpoint) -> list[bytes]:
    for checkpoint in (first, second):
        _same_root(leaves, checkpoint)
    return consistency_proof(leaves, first.tree_size)


async def prove_inclusion(
    store: AuditLog, seq: int, tree_size: int | None = None
) -> InclusionProof:
    """The audit path of entry ``seq`` in checkpoint ``tree_size`` (default: the newest)."""
    checkpoint = await _checkpoint(store, tree_size)
    if not 1 <= seq <= checkpoint.tree_size:
        raise ProofNotPossible(f"seq {seq} is not covered by checkpoint {checkpoint.tree_size}")
    leaves = await _leaves(store, checkpoint)
    path = await asyncio.to_thread(_inclusion_sync, leaves, seq, checkpoint)
    entry = await store.entry_at(seq)
    if entry is None:
        raise LogMismatch(f"entry {seq} is missing; run verification")
    return InclusionProof(checkpoint, seq, entry, path)


async def prove_consistency(
    store: AuditLog, first_size: int, second_size: int | None = None
) -> ConsistencyProof:
    """The proof that checkpoint ``second_size`` (default: the newest) extends ``first_size``."""
    second = await _checkpoint(store, second_size)
    first = await _checkpoint(store, first_size)
    if first.tree_size > second.tree_size:
        raise ProofNotPossible(
            f"checkpoint {first.tree_size} is newer than checkpoint {second.tree_size}"
        )
    leaves = await _leaves(store, second)
    path = await asyncio.to_thread(_consistency_sync, leaves, first, second)
    return ConsistencyProof(first, second, path)
