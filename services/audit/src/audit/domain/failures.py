"""Why a verification stopped: the first place an audit log and its evidence disagree."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Failure", "FailureReason"]


class FailureReason(StrEnum):
    """Plain-language reasons shown to auditors; the values are part of the report format."""

    ENTRY_EDITED = "entry edited (hash mismatch)"
    ENTRY_MISSING = "entry missing (sequence gap)"
    ENTRY_INSERTED_OR_REORDERED = "entry inserted or reordered"
    CHAIN_LINK_BROKEN = "chain link broken (prev_hash does not match previous entry)"
    ENTRY_UNREADABLE = "entry unreadable (not a valid audit entry)"
    LOG_TRUNCATED = "entry missing (log ends before checkpoint)"
    CHECKPOINT_ROOT_MISMATCH = "checkpoint root mismatch"
    CHECKPOINT_LAST_ENTRY_MISMATCH = "checkpoint last entry hash mismatch"
    CHECKPOINT_SIGNATURE_INVALID = "checkpoint signature invalid"


class Failure(BaseModel):
    """The first point of disagreement.

    ``seq`` is the position in the log from which the log can no longer be trusted: every
    entry before it was verified. For checkpoint failures it is the checkpoint's tree size
    (the seq of the last entry the checkpoint covers).
    """

    model_config = ConfigDict(frozen=True)

    seq: int = Field(ge=0)
    reason: FailureReason
    detail: str = ""
