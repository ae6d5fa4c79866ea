"""Issued documents: is this PDF one the department issued, and can that be proved?

A result document (licence, certificate, decision) is signed PAdES by intake and announced
as ``dossier.result-issued.v1`` with the SHA-256 of its exact bytes; audit seals that event
like any other. Whoever holds a copy can then be answered two questions independently:

* the signature: intact, cryptographically valid, covering the whole file (nothing added
  after signing), by a certificate that chains to a trusted root;
* the issue: an entry of the log records these very bytes as issued, and an inclusion proof
  leads from that entry to a checkpoint the audit key signed.

The rules here are pure: the signature itself is checked by an adapter
(``audit.adapters.signatures``), the entry found by the store. ``check_issue_proof`` is what
the offline command runs on the service's answer, so a citizen need not trust the service.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from audit.domain.chain import AuditEntry, compute_entry_hash
from audit.domain.checkpoint import Checkpoint, verify_checkpoint
from audit.domain.merkle import leaf_hash, verify_inclusion
from audit.domain.personal_data import ENCRYPTED_PREFIX
from chassis.events import EventType

__all__ = [
    "ISSUE_EVENT_TYPE",
    "IssueRecord",
    "ProofCheck",
    "ProofStatus",
    "SignatureVerdict",
    "check_issue_proof",
    "is_sha256",
    "issue_record",
    "looks_like_pdf",
]

ISSUE_EVENT_TYPE: Final = EventType.RESULT_ISSUED.value
# ISO 32000 lets the header start anywhere in the first 1024 bytes; readers accept that.
PDF_HEADER_WINDOW: Final = 1024
_PDF_MAGIC: Final = b"%PDF-"
_SHA256: Final = re.compile(r"^[0-9a-f]{64}$")


def looks_like_pdf(head: bytes) -> bool:
    """Whether the first bytes of a file carry a PDF header: anything else is not a PDF at
    all (refused), while a damaged PDF is still answered with a verdict."""
    return _PDF_MAGIC in head[:PDF_HEADER_WINDOW]


def is_sha256(value: object) -> bool:
    return isinstance(value, str) and bool(_SHA256.match(value))


@dataclass(frozen=True, slots=True)
class SignatureVerdict:
    """The document's signature as a verifier judged it.

    ``valid``: intact, cryptographically sound and covering the whole file. ``trusted``:
    valid and by a certificate that chains to a configured trust root. ``problem`` says in
    words why either is false.
    """

    valid: bool
    trusted: bool
    signer: str | None = None
    signed_at: str | None = None
    problem: str | None = None


class ProofStatus(StrEnum):
    PROVEN = "proven"  # an inclusion proof up to a signed checkpoint
    AWAITING_CHECKPOINT = "awaiting_checkpoint"  # recorded after the newest checkpoint
    NOT_ISSUED = "not_issued"  # no entry records these bytes


@dataclass(frozen=True, slots=True)
class IssueRecord:
    """What anyone may read of the entry that records the issue: no personal data (the
    event carries none), only where it sits in the log and the dossier's receipt code."""

    seq: int
    event_type: str
    occurred_at: str
    receipt_code: str | None
    decision_number: str | None


def issue_record(document: Mapping[str, Any]) -> IssueRecord:
    """The public view of a stored issue entry."""
    payload = document.get("payload")
    data: Mapping[str, Any] = payload if isinstance(payload, Mapping) else {}

    def text(value: Any) -> str | None:
        # A value sealed as personal (it looked like a phone or ID number) stays unread.
        if not isinstance(value, str) or value.startswith(ENCRYPTED_PREFIX):
            return None
        return value

    return IssueRecord(
        seq=int(document.get("seq", 0)),
        event_type=str(document.get("event_type", "")),
        occurred_at=str(document.get("occurred_at", "")),
        receipt_code=text(data.get("receipt_code")),
        decision_number=text(data.get("decision_number")),
    )


@dataclass(frozen=True, slots=True)
class ProofCheck:
    ok: bool
    failure: str | None = None


def check_issue_proof(
    *,
    sha256: str,
    entry: Mapping[str, Any],
    leaf_index: int,
    tree_size: int,
    path: Sequence[str],
    checkpoint: Checkpoint,
    public_key: Ed25519PublicKey,
) -> ProofCheck:
    """Check, without trusting whoever sent them, that ``entry`` records the issue of the
    document with ``sha256`` and that ``path`` leads from it to the root ``checkpoint``
    signs with ``public_key``."""
    try:
        sealed = AuditEntry.model_validate(dict(entry))
    except ValidationError as exc:
        return ProofCheck(False, f"the entry is not an audit entry: {exc.errors()[0]['msg']}")
    if sealed.event_type != ISSUE_EVENT_TYPE:
        return ProofCheck(False, f"the entry records {sealed.event_type}, not an issue")
    if sealed.payload.get("sha256") != sha256:
        return ProofCheck(False, "the entry records another document (sha256 differs)")
    try:
        recomputed = compute_entry_hash(sealed)
    except (TypeError, ValueError):
        recomputed = ""
    if recomputed != sealed.entry_hash:
        return ProofCheck(False, "the entry's hash does not match its content")
    if leaf_index != sealed.seq - 1 or tree_size != checkpoint.tree_size:
        return ProofCheck(False, "the proof names another position or tree than the entry's")
    try:
        hashes = [bytes.fromhex(h) for h in path]
        root = bytes.fromhex(checkpoint.root_hash)
    except ValueError:
        return ProofCheck(False, "the proof holds something that is not a hash")
    if not verify_inclusion(
        leaf_hash(bytes.fromhex(sealed.entry_hash)), leaf_index, tree_size, hashes, root
    ):
        return ProofCheck(False, "the inclusion proof does not lead to the checkpoint's root")
    if not verify_checkpoint(checkpoint, public_key):
        return ProofCheck(False, "the checkpoint's signature does not verify with the key")
    return ProofCheck(True)
