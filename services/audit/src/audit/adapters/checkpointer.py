"""Signs a checkpoint of the audit log every few seconds when the log has grown.

Each round resumes the Merkle tree from the previous checkpoint's stored frontier (after
checking that the frontier reproduces that checkpoint's root), re-checks the hash chain of
every entry added since, and signs the tree head it reaches. An entry that fails the chain
check is never signed over: the round signs up to the entry before it and reports the
failure, and every later round stops at the same place until someone investigates.

Every replica of the service runs this worker; rounds need no coordination because they are
idempotent. A checkpoint is a pure function of the entries 1..tree_size (which never change)
plus its ``issued_at``, and it is stored under ``_id`` = its tree size with a plain insert:
two replicas signing the same size leave the first one's, and the second sees the duplicate
key and stores nothing; two signing different sizes leave two valid checkpoints of the same
log, which consistency proofs link like any others. The log has no gaps at any moment (see
``audit.adapters.consumer``), so a round never signs over a hole another replica is about
to fill. A replica killed mid-round leaves nothing or one complete checkpoint document.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import Counter, Gauge

from audit.adapters.store import AuditStore, StoredCheckpoint
from audit.domain.chain import (
    GENESIS_PREV_HASH,
    ChainVerifier,
    MalformedEntryError,
    iso_utc,
    leaf_bytes,
    with_lookahead,
)
from audit.domain.checkpoint import Checkpoint, sign_checkpoint
from audit.domain.export import MalformedCheckpointError
from audit.domain.failures import Failure
from audit.domain.merkle import CompactRange, leaf_hash

log = logging.getLogger(__name__)

CHECKPOINT_SIZE = Gauge("hoso_audit_checkpoint_tree_size", "Tree size of the newest checkpoint")
CHAIN_FAILURES = Counter(
    "hoso_audit_chain_failures_total", "Checkpoint rounds that found the chain broken"
)


@dataclass(frozen=True, slots=True)
class Extension:
    """What a round found beyond the previous checkpoint."""

    tree: CompactRange
    head_hash: str
    failure: Failure | None


def resume_point(previous: StoredCheckpoint | None) -> tuple[CompactRange, str]:
    """The tree and chain head to continue from, or genesis when the previous checkpoint's
    frontier does not reproduce its root (the stored frontier is not signed; the root is)."""
    if previous is None:
        return CompactRange(), GENESIS_PREV_HASH
    try:
        tree = CompactRange(previous.checkpoint.tree_size, previous.frontier)
    except ValueError:
        tree = None
    if tree is None or tree.root().hex() != previous.checkpoint.root_hash:
        log.error(
            "stored frontier of checkpoint %d does not match its root; rebuilding from seq 1",
            previous.checkpoint.tree_size,
        )
        return CompactRange(), GENESIS_PREV_HASH
    return tree, previous.checkpoint.last_entry_hash


class Checkpointer:
    def __init__(
        self,
        store: AuditStore,
        signing_key: Ed25519PrivateKey,
        *,
        log_id: str,
        interval_s: float,
        read_batch: int = 2000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._key = signing_key
        self._log_id = log_id
        self._interval_s = interval_s
        self._read_batch = read_batch
        self._clock = clock

    async def run(self) -> None:
        """The Runtime worker: one round per interval until cancelled."""
        while True:
            await asyncio.sleep(self._interval_s)
            await self.sign_if_grown()

    async def sign_if_grown(self) -> Checkpoint | None:
        """One round: sign a checkpoint if the log grew since the newest one."""
        try:
            previous = await self._store.latest_checkpoint()
        except MalformedCheckpointError:
            log.error("newest stored checkpoint is unreadable; rebuilding from seq 1")
            previous = None
        tree, head_hash = resume_point(previous)
        start = tree.size
        extension = await asyncio.to_thread(self._extend, tree, head_hash)
        if extension.failure is not None:
            CHAIN_FAILURES.inc()
            log.error(
                "audit chain check failed at seq %d (%s); checkpoints stop before it",
                extension.failure.seq,
                extension.failure.reason.value,
            )
        if extension.tree.size <= start or (
            previous is not None and extension.tree.size <= previous.checkpoint.tree_size
        ):
            return None
        checkpoint = sign_checkpoint(
            self._key,
            log_id=self._log_id,
            tree_size=extension.tree.size,
            root_hash=extension.tree.root(),
            last_entry_hash=extension.head_hash,
            issued_at=iso_utc(self._clock()),
        )
        if not await self._store.insert_checkpoint(checkpoint, extension.tree.frontier):
            return None
        CHECKPOINT_SIZE.set(checkpoint.tree_size)
        log.info("signed audit checkpoint at tree size %d", checkpoint.tree_size)
        return checkpoint

    def _extend(self, tree: CompactRange, head_hash: str) -> Extension:
        # Runs in a worker thread: reading and hashing a large backlog is seconds of work.
        chain = ChainVerifier(head_hash, tree.size + 1)
        failure: Failure | None = None
        entries = self._store.log_entries(after_position=tree.size, batch=self._read_batch)
        try:
            with contextlib.closing(entries):
                for entry, following in with_lookahead(entries):
                    failure = chain.check(entry, following)
                    if failure is not None:
                        break
                    tree.append(leaf_hash(leaf_bytes(entry)))
        except MalformedEntryError as exc:
            failure = chain.unreadable(exc)
        return Extension(tree, chain.head_hash, failure)
