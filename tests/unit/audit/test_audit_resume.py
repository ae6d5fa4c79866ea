"""Where a checkpoint round resumes: the previous checkpoint's frontier, if it holds."""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.domain.chain import GENESIS_PREV_HASH, AuditEntry, leaf_bytes
from audit.domain.checkpoint import sign_checkpoint
from audit.domain.merkle import CompactRange, leaf_hash
from audit.service.checkpointing import resume_point
from audit.service.ports import StoredCheckpoint


def _stored(
    entries: list[AuditEntry], key: Ed25519PrivateKey, frontier: tuple[bytes, ...] | None = None
) -> StoredCheckpoint:
    tree = CompactRange()
    tree.extend(leaf_hash(leaf_bytes(e)) for e in entries)
    checkpoint = sign_checkpoint(
        key,
        log_id="test",
        tree_size=tree.size,
        root_hash=tree.root(),
        last_entry_hash=entries[-1].entry_hash,
        issued_at="2025-01-01T00:00:00Z",
    )
    return StoredCheckpoint(checkpoint, tree.frontier if frontier is None else frontier)


def test_nothing_before_means_genesis() -> None:
    tree, head = resume_point(None)
    assert (tree.size, head) == (0, GENESIS_PREV_HASH)


def test_resumes_from_the_stored_frontier(
    build_entries: Callable[..., list[AuditEntry]], signing_key: Ed25519PrivateKey
) -> None:
    entries = build_entries(13)
    tree, head = resume_point(_stored(entries, signing_key))
    assert tree.size == 13
    assert head == entries[-1].entry_hash
    more = build_entries(4, start_seq=14, prev_hash=head)
    tree.extend(leaf_hash(leaf_bytes(e)) for e in more)
    everything = CompactRange()
    everything.extend(leaf_hash(leaf_bytes(e)) for e in entries + more)
    assert tree.root() == everything.root()


def test_a_frontier_that_does_not_give_the_signed_root_is_not_trusted(
    build_entries: Callable[..., list[AuditEntry]], signing_key: Ed25519PrivateKey
) -> None:
    entries = build_entries(13)
    good = _stored(entries, signing_key)
    forged = (bytes(32), *good.frontier[1:])
    for frontier in (forged, good.frontier[:1]):
        tree, head = resume_point(_stored(entries, signing_key, frontier))
        assert (tree.size, head) == (0, GENESIS_PREV_HASH)
