"""Verification and proofs over the stored log, shared by the API and the command line.

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
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.adapters.store import AuditStore, StoredCheckpoint
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

__all__ = [
    "CheckpointNotFound",
    "ConsistencyProof",
    "InclusionProof",
    "LogMismatch",
    "LogVerifier",
    "RangeVerification",
]


class CheckpointNotFound(LookupError):
    """No checkpoint of the requested tree size (or none at all)."""


class LogMismatch(RuntimeError):
    """The stored entries no longer give the root a checkpoint signed."""


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
    entry: dict[str, object]
    path: list[bytes]


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    first: Checkpoint
    second: Checkpoint
    path: list[bytes]


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


class LogVerifier:
    def __init__(
        self, store: AuditStore, public_key: Ed25519PublicKey | None, *, read_batch: int = 2000
    ) -> None:
        self._store = store
        self._public_key = public_key
        self._read_batch = read_batch

    async def verify(self, from_seq: int = 1, to_seq: int | None = None) -> RangeVerification:
        """Verify the log from ``from_seq`` (or the checkpoint before it) to ``to_seq``.

        Without a public key the checkpoints are not checked, only the chain and the tree.
        """
        start_tree = CompactRange()
        start_hash = GENESIS_PREV_HASH
        if from_seq > 1 and self._public_key is not None:
            with contextlib.suppress(MalformedCheckpointError):
                stored = await self._store.latest_checkpoint(at_most=from_seq - 1)
                usable = _usable_start(stored, self._public_key) if stored else None
                if stored is not None and usable is not None:
                    start_tree, start_hash = usable, stored.checkpoint.last_entry_hash
        trusted = start_tree.size
        checkpoints: list[Checkpoint] = []
        unreadable: Failure | None = None
        if self._public_key is not None:
            try:
                checkpoints = await self._store.checkpoints(after_size=trusted - 1, at_most=to_seq)
            except MalformedCheckpointError as exc:
                unreadable = Failure(
                    seq=0, reason=FailureReason.CHECKPOINT_SIGNATURE_INVALID, detail=str(exc)
                )
        report = await asyncio.to_thread(
            self._verify_sync, start_tree, start_hash, checkpoints, to_seq
        )
        if unreadable is not None and report.ok:
            report = report.model_copy(update={"ok": False, "first_failure": unreadable})
        return RangeVerification(from_seq, to_seq, trusted, report)

    def _verify_sync(
        self,
        start_tree: CompactRange,
        start_hash: str,
        checkpoints: list[Checkpoint],
        to_seq: int | None,
    ) -> VerificationReport:
        entries = self._store.log_entries(after_position=start_tree.size, batch=self._read_batch)
        with contextlib.closing(entries):
            # Bounded by count, not by the seq entries claim: an entry whose seq was altered
            # must still be read where it sits.
            bounded: Iterator[AuditEntry] = (
                itertools.islice(entries, max(0, to_seq - start_tree.size))
                if to_seq is not None
                else entries
            )
            # verify_log wants a key object; with no checkpoints to check it is never used.
            key = self._public_key or generate_private_key().public_key()
            return verify_log(
                bounded,
                checkpoints,
                key,
                start_prev_hash=start_hash,
                start_seq=start_tree.size + 1,
                start_range=start_tree,
            )

    async def _checkpoint(self, tree_size: int | None) -> Checkpoint:
        stored = (
            await self._store.latest_checkpoint()
            if tree_size is None
            else await self._store.checkpoint(tree_size)
        )
        if stored is None:
            raise CheckpointNotFound(
                "no checkpoint yet" if tree_size is None else f"no checkpoint of size {tree_size}"
            )
        return stored.checkpoint

    async def _leaves(self, checkpoint: Checkpoint) -> list[bytes]:
        hashes = await self._store.leaf_entry_hashes(checkpoint.tree_size)
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

    async def inclusion(self, seq: int, tree_size: int | None = None) -> InclusionProof:
        checkpoint = await self._checkpoint(tree_size)
        if not 1 <= seq <= checkpoint.tree_size:
            raise ValueError(f"seq {seq} is not covered by checkpoint {checkpoint.tree_size}")
        leaves = await self._leaves(checkpoint)
        path = await asyncio.to_thread(self._inclusion_sync, leaves, seq, checkpoint)
        entry = await self._store.entry_at(seq)
        if entry is None:
            raise LogMismatch(f"entry {seq} is missing; run verification")
        return InclusionProof(checkpoint, seq, entry, path)

    @staticmethod
    def _inclusion_sync(leaves: list[bytes], seq: int, checkpoint: Checkpoint) -> list[bytes]:
        if root(leaves).hex() != checkpoint.root_hash:
            raise LogMismatch(
                f"the entries no longer give the root checkpoint {checkpoint.tree_size} "
                "signed; run verification"
            )
        return inclusion_proof(leaves, seq - 1)

    async def consistency(
        self, first_size: int, second_size: int | None = None
    ) -> ConsistencyProof:
        second = await self._checkpoint(second_size)
        first = await self._checkpoint(first_size)
        if first.tree_size > second.tree_size:
            raise ValueError(
                f"checkpoint {first.tree_size} is newer than checkpoint {second.tree_size}"
            )
        leaves = await self._leaves(second)
        path = await asyncio.to_thread(self._consistency_sync, leaves, first, second)
        return ConsistencyProof(first, second, path)

    @staticmethod
    def _consistency_sync(
        leaves: list[bytes], first: Checkpoint, second: Checkpoint
    ) -> list[bytes]:
        for checkpoint in (first, second):
            if root(leaves[: checkpoint.tree_size]).hex() != checkpoint.root_hash:
                raise LogMismatch(
                    f"the entries no longer give the root checkpoint {checkpoint.tree_size} "
                    "signed; run verification"
                )
        return consistency_proof(leaves, first.tree_size)
