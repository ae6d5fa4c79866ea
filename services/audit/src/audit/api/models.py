"""Request and response bodies of the audit API, and the strict shapes of its parameters."""

from __future__ import annotations

from typing import Annotated, Any, Final

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


class EntryPage(BaseModel):
    entries: list[EntryOut]
    # Pass as after_seq to continue; new entries always come after it, so polling with it
    # while the log grows returns each entry exactly once.
    next_after_seq: int
    has_more: bool


class DossierTrail(EntryPage):
    dossier_id: str


class CheckpointOut(BaseModel):
    log_id: str
    tree_size: int
    root_hash: str
    last_entry_hash: str
    issued_at: str
    key_id: str
    signature: str


class CheckpointPage(BaseModel):
    checkpoints: list[CheckpointOut]
    next_after_size: int
    has_more: bool


class InclusionProofOut(BaseModel):
    """Proof that the entry at ``seq`` is leaf ``leaf_index`` of the tree ``checkpoint`` signs.

    Check: ``compute_entry_hash(entry) == entry["entry_hash"]``, then
    ``verify_inclusion(leaf_hash(bytes.fromhex(entry_hash)), leaf_index, tree_size, path,
    bytes.fromhex(checkpoint.root_hash))`` and the checkpoint's signature.
    """

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

    first: CheckpointOut
    second: CheckpointOut
    path: list[str]


class VerifyRequest(BaseModel):
    # Strict: a JSON `true` is not sequence number 1.
    model_config = ConfigDict(extra="forbid", strict=True)

    from_seq: Seq = 1
    to_seq: Seq | None = None


class FailureOut(BaseModel):
    seq: int
    reason: str
    detail: str


class VerificationOut(BaseModel):
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
    algorithm: str = "Ed25519"
    log_id: str
    key_id: str
    public_key_pem: str
    public_key_base64: str
    ephemeral: bool = Field(
        description="true when the service runs without a configured key: its checkpoints "
        "will not verify after it restarts"
    )
