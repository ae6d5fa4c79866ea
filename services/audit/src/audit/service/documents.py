"""Use case: anyone verifies a document the department issued.

Given the exact bytes of a PDF (spooled by the caller) and their SHA-256, answer whether
its signature holds and whether the log records these bytes as issued, with the inclusion
proof of that entry up to the newest signed checkpoint. The two answers are independent:
a copy changed by one byte fails both, since its signature no longer matches and no entry
has its hash.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import IO, Any, Protocol

from pydantic import ValidationError

from audit.domain.chain import AuditEntry, compute_entry_hash
from audit.domain.checkpoint import Checkpoint
from audit.domain.documents import IssueRecord, ProofStatus, SignatureVerdict, issue_record
from audit.domain.export import MalformedCheckpointError
from audit.domain.merkle import MerkleLevels, leaf_hash
from audit.service.ports import AuditLog
from audit.service.verification import InclusionProof, LogMismatch

__all__ = ["DocumentVerdict", "DocumentVerifier", "SignatureChecker"]


class SignatureChecker(Protocol):
    """Judges the signature of a PDF (``audit.adapters.signatures`` with pyHanko)."""

    def check(self, pdf: IO[bytes]) -> SignatureVerdict:
        """Blocking: reads and hashes the whole file; run it in a worker thread."""
        ...


@dataclass(frozen=True, slots=True)
class DocumentVerdict:
    sha256: str
    size: int
    signature: SignatureVerdict
    status: ProofStatus
    # The entry that records the issue, as anyone may see it; None when not issued.
    issue: IssueRecord | None = None
    proof: InclusionProof | None = None
    # The proof's checkpoint; without a proof, the newest one (older than the entry).
    checkpoint: Checkpoint | None = None

    @property
    def issued(self) -> bool:
        return self.issue is not None


class DocumentVerifier:
    """Verifies documents for anyone. At most ``concurrency`` signatures are validated at
    once: each parses a whole PDF, and the endpoint is public.

    The tree of the newest checkpoint is built once (the log's leaf hashes read, every
    level kept) and checked against the checkpoint's signed root; every proof in it then
    costs one sibling per level, where building it again would read and hash the whole
    log for each request. A new checkpoint replaces it.
    """

    def __init__(self, store: AuditLog, checker: SignatureChecker, concurrency: int = 2) -> None:
        self._store = store
        self._checker = checker
        self._slots = asyncio.Semaphore(concurrency)
        self._tree: tuple[Checkpoint, MerkleLevels] | None = None
        self._building = asyncio.Lock()

    async def verify(self, pdf: IO[bytes], *, sha256: str, size: int) -> DocumentVerdict:
        async with self._slots:
            signature = await asyncio.to_thread(self._checker.check, pdf)
        found = await self._store.find_issue(sha256)
        if found is None:
            return DocumentVerdict(sha256, size, signature, ProofStatus.NOT_ISSUED)
        issue = issue_record(found)
        try:
            stored = await self._store.latest_checkpoint()
        except MalformedCheckpointError as exc:
            raise LogMismatch("the newest checkpoint is damaged; run verification") from exc
        if stored is None or issue.seq > stored.checkpoint.tree_size:
            # Recorded after the newest checkpoint: issued, but the signed evidence
            # follows with the next checkpoint round.
            return DocumentVerdict(
                sha256,
                size,
                signature,
                ProofStatus.AWAITING_CHECKPOINT,
                issue,
                checkpoint=stored.checkpoint if stored is not None else None,
            )
        proof = await self._prove(issue.seq, stored.checkpoint)
        return DocumentVerdict(
            sha256, size, signature, ProofStatus.PROVEN, issue, proof, proof.checkpoint
        )

    async def _prove(self, seq: int, checkpoint: Checkpoint) -> InclusionProof:
        levels = await self._levels(checkpoint)
        entry = await self._store.entry_at(seq)
        # The tree was checked against the signed root when it was built; the entry is
        # read now, so it must still be the one whose hash is that leaf.
        if entry is None or not _is_leaf(entry, levels.leaf(seq - 1)):
            raise LogMismatch(f"entry {seq} no longer matches checkpoint {checkpoint.tree_size}")
        return InclusionProof(checkpoint, seq, entry, levels.inclusion_proof(seq - 1))

    async def _levels(self, checkpoint: Checkpoint) -> MerkleLevels:
        if self._tree is not None and self._tree[0] == checkpoint:
            return self._tree[1]
        # One build per checkpoint, however many requests arrive while it runs.
        async with self._building:
            if self._tree is not None and self._tree[0] == checkpoint:
                return self._tree[1]
            hashes = await self._store.leaf_entry_hashes(checkpoint.tree_size)
            levels = await asyncio.to_thread(_checked_tree, hashes, checkpoint)
            self._tree = (checkpoint, levels)
            return levels


def _checked_tree(hashes: list[str], checkpoint: Checkpoint) -> MerkleLevels:
    """The tree of the stored entry hashes, if it is the one ``checkpoint`` signed."""
    try:
        leaves = [leaf_hash(bytes.fromhex(h)) for h in hashes]
    except ValueError:
        leaves = []
    if len(leaves) != checkpoint.tree_size:
        raise LogMismatch(
            f"the log no longer has the {checkpoint.tree_size} entries checkpoint "
            f"{checkpoint.tree_size} signed; run verification"
        )
    levels = MerkleLevels(leaves)
    if levels.root().hex() != checkpoint.root_hash:
        raise LogMismatch(
            f"the entries no longer give the root checkpoint {checkpoint.tree_size} signed; "
            "run verification"
        )
    return levels


def _is_leaf(document: dict[str, Any], leaf: bytes) -> bool:
    """Whether a stored entry is intact and its hash is ``leaf``."""
    try:
        entry = AuditEntry.model_validate(document)
        intact = compute_entry_hash(entry) == entry.entry_hash
    except (ValidationError, TypeError, ValueError):
        return False
    return intact and leaf_hash(bytes.fromhex(entry.entry_hash)) == leaf
