"""Use case: sign a checkpoint of the audit log when it has grown.

A round resumes the Merkle tree from the previous checkpoint's stored frontier (after
checking that the frontier reproduces that checkpoint's root), re-checks the hash chain of
every entry added since, and signs the tree head it reaches. An entry that fails the chain
check is never signed over: the round signs up to the entry before it and reports the
failure, and every later round stops at the same place until someone investigates.

Every replica runs rounds; they need no coordination because they are idempotent. A
checkpoint is a pure function of the entries 1..tree_size (which never change) plus its
``issued_at``, and it is stored under its tree size: two replicas signing the same size
leave the first one's and the second stores nothing; two signing different sizes leave two
valid checkpoints of the same log, which consistency proofs link like any others. The log
has no gaps at any moment (see ``audit.service.recording``), so a round never signs over a
hole another replica is about to fill.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.domain.chain import (
    GENESIS_PREV_HASH,
    AuditEntry,
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
from audit.service.paging import walk_log
from audit.service.ports import AuditLog, Clock, StoredCheckpoint

__all__ = ["CheckpointRound", "make_checkpoint", "resume_point"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CheckpointRound:
    # The checkpoint this round stored; None when the log had not grown (or another
    # replica stored the same size first).
    checkpoint: Checkpoint | None
    # The first entry that broke the chain, if the round met one.
    failure: Failure | None


@dataclass(frozen=True, slots=True)
class _Extension:
    tree: CompactRange
    head_hash: str
    failure: Failure | None


def resume_point(previous: StoredCheckpoint | None) -> tuple[CompactRange, str]:
    """The tree and chain head to continue from, or genesis when the previous checkpoint's
    frontier does not reproduce its root (the stored frontier is not signed; the root is)."""
    if previous is None:
        return CompactRange(), GENESIS_PREV_HASH
    try:
        tree: CompactRange | None = CompactRange(previous.checkpoint.tree_size, previous.frontier)
    except ValueError:
        tree = None
    if tree is None or tree.root().hex() != previous.checkpoint.root_hash:
        log.error(
            "stored frontier of checkpoint %d does not match its root; rebuilding from seq 1",
            previous.checkpoint.tree_size,
        )
        return CompactRange(), GENESIS_PREV_HASH
    return tree, previous.checkpoint.last_entry_hash


def _extend(entries: Iterator[AuditEntry], tree: CompactRange, head_hash: str) -> _Extension:
    # Runs in a worker thread (`walk_log`): hashing a large backlog is seconds of work.
    chain = ChainVerifier(head_hash, tree.size + 1)
    failure: Failure | None = None
    try:
        for entry, following in with_lookahead(entries):
            failure = chain.check(entry, following)
            if failure is not None:
                break
            tree.append(leaf_hash(leaf_bytes(entry)))
    except MalformedEntryError as exc:
        failure = chain.unreadable(exc)
    return _Extension(tree, chain.head_hash, failure)


async def make_checkpoint(
    store: AuditLog,
    signing_key: Ed25519PrivateKey,
    *,
    log_id: str,
    clock: Clock,
    read_batch: int = 2000,
) -> CheckpointRound:
    """One round: sign and store a checkpoint if the log grew since the newest one."""
    try:
        previous = await store.latest_checkpoint()
    except MalformedCheckpointError:
        log.error("newest stored checkpoint is unreadable; rebuilding from seq 1")
        previous = None
    tree, head_hash = resume_point(previous)
    start = tree.size
    extension = await walk_log(
        store.log_pages(after_position=tree.size, batch=read_batch),
        functools.partial(_extend, tree=tree, head_hash=head_hash),
    )
    if extension.failure is not None:
        log.error(
            "audit chain check failed at seq %d (%s); checkpoints stop before it",
            extension.failure.seq,
            extension.failure.reason.value,
        )
    if extension.tree.size <= start or (
        previous is not None and extension.tree.size <= previous.checkpoint.tree_size
    ):
        return CheckpointRound(None, extension.failure)
    checkpoint = sign_checkpoint(
        signing_key,
        log_id=log_id,
        tree_size=extension.tree.size,
        root_hash=extension.tree.root(),
        last_entry_hash=extension.head_hash,
        issued_at=iso_utc(clock()),
    )
    if not await store.insert_checkpoint(checkpoint, extension.tree.frontier):
        return CheckpointRound(None, extension.failure)
    log.info("signed audit checkpoint at tree size %d", checkpoint.tree_size)
    return CheckpointRound(checkpoint, extension.failure)
