"""Fixtures building small, realistic audit logs with signed checkpoints."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.domain.chain import GENESIS_PREV_HASH, AuditEntry, FieldChange, leaf_bytes, seal
from audit.domain.checkpoint import Checkpoint, sign_checkpoint
from audit.domain.merkle import CompactRange, leaf_hash

LOG_ID = "hoso-audit-test"


@dataclass
class SampleLog:
    entries: list[AuditEntry]
    checkpoints: list[Checkpoint] = field(default_factory=list)


def _make_entry(seq: int, prev_hash: str, **overrides: object) -> AuditEntry:
    fields: dict[str, object] = {
        "seq": seq,
        "event_id": f"evt-{seq:06d}",
        "event_type": "dossier.status_changed" if seq % 3 else "dossier.submitted",
        "dossier_id": f"HS-2024-{seq % 7:05d}",
        "actor": "officer:tran.thi.b" if seq % 2 else "citizen:nguyen.van.a",
        "occurred_at": f"2024-05-01T08:{seq // 60 % 60:02d}:{seq % 60:02d}.000000Z",
        "recorded_at": f"2024-05-01T08:{seq // 60 % 60:02d}:{seq % 60:02d}.250000+00:00",
        "changes": [FieldChange(field="status", old="received", new=f"step-{seq}")],
        "trace_id": f"{seq:032x}" if seq % 5 else None,
        "payload": {"ward": "Phường Bến Nghé", "fee_vnd": 50_000 + seq, "ratio": seq / 8},
        "prev_hash": prev_hash,
    }
    fields.update(overrides)
    return seal(**fields)  # type: ignore[arg-type]


def _build_entries(
    count: int, start_seq: int = 1, prev_hash: str = GENESIS_PREV_HASH
) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    for seq in range(start_seq, start_seq + count):
        entry = _make_entry(seq, prev_hash)
        entries.append(entry)
        prev_hash = entry.entry_hash
    return entries


def _checkpoints_for(
    entries: Sequence[AuditEntry], sizes: Sequence[int], key: Ed25519PrivateKey
) -> list[Checkpoint]:
    wanted = set(sizes)
    tree = CompactRange()
    head = GENESIS_PREV_HASH
    checkpoints = []
    if 0 in wanted:
        checkpoints.append(_sign(key, tree, head))
    for entry in entries:
        tree.append(leaf_hash(leaf_bytes(entry)))
        head = entry.entry_hash
        if tree.size in wanted:
            checkpoints.append(_sign(key, tree, head))
    return checkpoints


def _sign(key: Ed25519PrivateKey, tree: CompactRange, head: str) -> Checkpoint:
    return sign_checkpoint(
        key,
        log_id=LOG_ID,
        tree_size=tree.size,
        root_hash=tree.root(),
        last_entry_hash=head,
        issued_at=f"2024-05-01T09:00:{tree.size % 60:02d}Z",
    )


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def sample_log(signing_key: Ed25519PrivateKey) -> Callable[..., SampleLog]:
    def build(count: int = 95, every: int = 10) -> SampleLog:
        entries = _build_entries(count)
        sizes = range(every, count + 1, every) if every else ()
        return SampleLog(entries, _checkpoints_for(entries, list(sizes), signing_key))

    return build


@pytest.fixture
def make_entry() -> Callable[..., AuditEntry]:
    """``make_entry(seq, prev_hash, **field_overrides)`` -> sealed entry."""
    return _make_entry


@pytest.fixture
def build_entries() -> Callable[..., list[AuditEntry]]:
    """``build_entries(count, start_seq=1, prev_hash=GENESIS)`` -> chained entries."""
    return _build_entries


@pytest.fixture
def checkpoints_for() -> Callable[..., list[Checkpoint]]:
    """``checkpoints_for(entries, sizes, key)`` -> checkpoints signed at those tree sizes."""
    return _checkpoints_for
