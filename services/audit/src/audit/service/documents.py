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
from typing import IO, Protocol

from audit.domain.checkpoint import Checkpoint
from audit.domain.documents import IssueRecord, ProofStatus, SignatureVerdict, issue_record
from audit.service.ports import AuditLog
from audit.service.verification import (
    CheckpointNotFound,
    InclusionProof,
    ProofNotPossible,
    prove_inclusion,
)

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
    """Verifies documents for anyone. At most ``concurrency`` verifications run at once:
    each parses a PDF and reads the log's leaf hashes, and the endpoint is public."""

    def __init__(self, store: AuditLog, checker: SignatureChecker, concurrency: int = 2) -> None:
        self._store = store
        self._checker = checker
        self._slots = asyncio.Semaphore(concurrency)

    async def verify(self, pdf: IO[bytes], *, sha256: str, size: int) -> DocumentVerdict:
        async with self._slots:
            signature = await asyncio.to_thread(self._checker.check, pdf)
            found = await self._store.find_issue(sha256)
            if found is None:
                return DocumentVerdict(sha256, size, signature, ProofStatus.NOT_ISSUED)
            issue = issue_record(found)
            try:
                proof = await prove_inclusion(self._store, issue.seq)
            except (CheckpointNotFound, ProofNotPossible):
                # Recorded after the newest checkpoint: issued, but the signed evidence
                # follows with the next checkpoint round.
                latest = await self._store.latest_checkpoint()
                return DocumentVerdict(
                    sha256,
                    size,
                    signature,
                    ProofStatus.AWAITING_CHECKPOINT,
                    issue,
                    checkpoint=latest.checkpoint if latest is not None else None,
                )
            return DocumentVerdict(
                sha256, size, signature, ProofStatus.PROVEN, issue, proof, proof.checkpoint
            )
