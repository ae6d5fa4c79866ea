"""Request and response bodies of the audit API, and the strict shapes of its parameters."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from audit.domain.canonical import MAX_SAFE_INTEGER

# Parameter shapes. Every value an auditor sends is compared with stored values and never
# used as a field name; these patterns also keep operator objects ("{"$ne": …}"), dotted
# paths and control characters out at the door.
DOSSIER_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
ACTOR_PATTERN: Final = r"^[a-z]{1,16}:[A-Za-z0-9][A-Za-z0-9._@-]{0,110}$"
EVENT_TYPE_PATTERN: Final = r"^[a-z][a-z0-9-]{0,40}(?:\.[a-z0-9-]{1,40}){1,4}$"

Seq = Annotated[int, Field(ge=1, le=MAX_SAFE_INTEGER)]
DossierId = Annotated[str, StringConstraints(pattern=DOSSIER_ID_PATTERN)]

DOSSIER_ID_EXAMPLE = "0b6f1c3e-8d2a-4f5e-9a71-3c2d1e0f4a5b"
_HASH_A = "5f1d0c8e9b7a6f4e3d2c1b0a99887766554433221100ffeeddccbbaa99887766"
_HASH_B = "a3c5e7f90b1d2e4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7"
_ENTRY: dict[str, Any] = {
    "seq": 42,
    "event_id": "6a0f3e2d-1c4b-4a59-8e7d-9f0a1b2c3d4e",
    "event_type": "dossier.status-changed.v1",
    "dossier_id": DOSSIER_ID_EXAMPLE,
    "actor": "officer:officer-a",
    "occurred_at": "2026-11-27T01:30:00.000Z",
    "recorded_at": "2026-11-27T01:30:00.412Z",
    "changes": [{"field": "status", "old": "received", "new": "in_review"}],
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "payload": {"dossier_id": DOSSIER_ID_EXAMPLE, "status": "in_review", "action": "start_review"},
    "prev_hash": _HASH_A,
    "entry_hash": _HASH_B,
}
_CHECKPOINT: dict[str, Any] = {
    "log_id": "hoso-audit",
    "tree_size": 42,
    "root_hash": "0e4f9d2c7b1a3e5f6d8c9b0a1f2e3d4c5b6a79880f1e2d3c4b5a69788f9e0d1c",
    "last_entry_hash": _HASH_B,
    "issued_at": "2026-11-27T01:30:05.000Z",
    "key_id": "9c1f0e2d3b4a5968",
    "signature": "mX3k1Vq8y2cXJ0n6tU5pR7wZ4aB9dE1fG3hI5jK7lM9nO1pQ3rS5tU7vW9xY1zA3bC5dE7fG9h"
    "I1jK3lM5nO7pQ9w==",
}


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class FieldChangeOut(BaseModel):
    field: str
    old: Any = None
    new: Any = None


class EntryOut(BaseModel):
    """One audit entry as an auditor reads it: personal data in clear only with clearance."""

    seq: int
    event_id: str
    event_type: str
    dossier_id: str | None = None
    actor: str
    occurred_at: str
    recorded_at: str
    changes: list[FieldChangeOut] = Field(default_factory=list)
    trace_id: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str
    entry_hash: str


NEXT_CURSOR_DOC = (
    "Pass as `cursor` for the next page (also in the `Link` header); null on the last page"
)


class EntryPage(BaseModel):
    model_config = _examples({"entries": [_ENTRY], "next_cursor": "WyJlbnRyaWVzIiw0Ml0"})

    entries: list[EntryOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR_DOC)


class DossierTrail(EntryPage):
    model_config = _examples(
        {"dossier_id": DOSSIER_ID_EXAMPLE, "entries": [_ENTRY], "next_cursor": None}
    )

    dossier_id: str


class CheckpointOut(BaseModel):
    model_config = _examples(_CHECKPOINT)

    log_id: str
    tree_size: int
    root_hash: str
    last_entry_hash: str
    issued_at: str
    key_id: str
    signature: str


class CheckpointPage(BaseModel):
    model_config = _examples({"checkpoints": [_CHECKPOINT], "next_cursor": None})

    checkpoints: list[CheckpointOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR_DOC)


class InclusionProofOut(BaseModel):
    """Proof that the entry at ``seq`` is leaf ``leaf_index`` of the tree ``checkpoint`` signs.

    Check: ``compute_entry_hash(entry) == entry["entry_hash"]``, then
    ``verify_inclusion(leaf_hash(bytes.fromhex(entry_hash)), leaf_index, tree_size, path,
    bytes.fromhex(checkpoint.root_hash))`` and the checkpoint's signature.
    """

    model_config = _examples(
        {
            "seq": 42,
            "leaf_index": 41,
            "tree_size": 42,
            "entry_hash": _HASH_B,
            "path": [_HASH_A],
            "checkpoint": _CHECKPOINT,
            "entry": _ENTRY,
        }
    )

    seq: int
    leaf_index: int
    tree_size: int
    entry_hash: str
    path: list[str]
    checkpoint: CheckpointOut
    entry: dict[str, Any] = Field(
        description="the entry exactly as sealed (personal data encrypted)"
    )


class ConsistencyProofOut(BaseModel):
    """Proof that the tree of ``second`` extends the tree of ``first`` (RFC 9162 §2.1.4)."""

    model_config = _examples(
        {
            "first": {**_CHECKPOINT, "tree_size": 40},
            "second": _CHECKPOINT,
            "path": [_HASH_A, _HASH_B],
        }
    )

    first: CheckpointOut
    second: CheckpointOut
    path: list[str]


class VerifyRequest(BaseModel):
    # Strict: a JSON `true` is not sequence number 1.
    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [{"from_seq": 1, "to_seq": 42}]}
    )

    from_seq: Seq = 1
    to_seq: Seq | None = None


class FailureOut(BaseModel):
    seq: int
    reason: str
    detail: str


class VerificationOut(BaseModel):
    model_config = _examples(
        {
            "ok": True,
            "from_seq": 1,
            "to_seq": 42,
            "trusted_size": 0,
            "entries_checked": 42,
            "checkpoints_checked": 1,
            "tree_size": 42,
            "root_hash": _CHECKPOINT["root_hash"],
            "last_entry_hash": _HASH_B,
            "checkpointed_size": 42,
            "first_failure": None,
        }
    )

    ok: bool
    from_seq: int
    to_seq: int | None
    trusted_size: int = Field(
        description="entries up to this size were taken on the trust of a signed checkpoint"
    )
    entries_checked: int
    checkpoints_checked: int
    tree_size: int
    root_hash: str
    last_entry_hash: str
    checkpointed_size: int
    first_failure: FailureOut | None = None


class PublicKeyOut(BaseModel):
    model_config = _examples(
        {
            "algorithm": "Ed25519",
            "log_id": "hoso-audit",
            "key_id": "9c1f0e2d3b4a5968",
            "public_key_pem": "-----BEGIN PUBLIC KEY-----\n"
            "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n"
            "-----END PUBLIC KEY-----\n",
            "public_key_base64": "Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=",
            "ephemeral": False,
        }
    )

    algorithm: str = "Ed25519"
    log_id: str
    key_id: str
    public_key_pem: str
    public_key_base64: str
    ephemeral: bool = Field(
        description="true when the service runs without a configured key: its checkpoints "
        "will not verify after it restarts"
    )


# ---------------------------------------------------------------------------- documents

_ISSUE_ENTRY: dict[str, Any] = {
    **_ENTRY,
    "event_type": "dossier.result-issued.v1",
    "actor": "system:intake",
    "changes": [],
    "payload": {
        "dossier_id": DOSSIER_ID_EXAMPLE,
        "receipt_code": "MT-261126-7KQ4XP",
        "document_id": "6750e0f1c2a4b3d5e6f70819",
        "sha256": _HASH_A,
        "size": 48213,
        "decision_number": "123/QĐ-STNMT",
        "issued_at": "2026-11-27T01:29:05.000Z",
    },
}


class SignatureOut(BaseModel):
    valid: bool = Field(description="intact, cryptographically sound and covering the whole file")
    trusted: bool = Field(description="valid, and the signer chains to a trusted root")
    signer: str | None = Field(description="the signing certificate's subject")
    signed_at: str | None = Field(description="signing time (a timestamp's if trusted)")
    problem: str | None = Field(description="why the signature is not valid or not trusted")


class IssueEntryOut(BaseModel):
    """The entry recording the issue, as anyone may see it (no personal data)."""

    seq: int
    type: str
    time: str = Field(description="when the document was issued (the event's time)")
    receipt_code: str | None
    decision_number: str | None


class DocumentVerdictOut(BaseModel):
    """The verdict on a PDF. ``issued`` is true only for these exact bytes; the inclusion
    proof is checked like the auditors' (`InclusionProofOut`), offline with `python -m
    audit.cli verify-document`."""

    model_config = _examples(
        {
            "sha256": _HASH_A,
            "size": 48213,
            "signature": {
                "valid": True,
                "trusted": True,
                "signer": "Common Name: So Tai nguyen va Moi truong, Country: VN",
                "signed_at": "2026-11-27T01:29:04.000000Z",
                "problem": None,
            },
            "issued": True,
            "proof_status": "proven",
            "entry": {
                "seq": 42,
                "type": "dossier.result-issued.v1",
                "time": "2026-11-27T01:29:05.000Z",
                "receipt_code": "MT-261126-7KQ4XP",
                "decision_number": "123/QĐ-STNMT",
            },
            "inclusion_proof": {
                "seq": 42,
                "leaf_index": 41,
                "tree_size": 42,
                "entry_hash": _HASH_B,
                "path": [_HASH_A],
                "checkpoint": _CHECKPOINT,
                "entry": _ISSUE_ENTRY,
            },
            "checkpoint": _CHECKPOINT,
        }
    )

    sha256: str = Field(description="SHA-256 of the bytes received")
    size: int
    signature: SignatureOut
    issued: bool = Field(description="the audit log records these exact bytes as issued")
    proof_status: Literal["proven", "awaiting_checkpoint", "not_issued"] = Field(
        description="`awaiting_checkpoint`: issued after the newest signed checkpoint; the "
        "proof exists after the next one (within `AUDIT_CHECKPOINT_INTERVAL_S`)"
    )
    entry: IssueEntryOut | None
    inclusion_proof: InclusionProofOut | None
    checkpoint: CheckpointOut | None = Field(
        description="the checkpoint the proof leads to; without a proof, the newest"
    )
