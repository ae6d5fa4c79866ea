"""The kinds of problem audit's API answers with, beyond the chassis's
(docs/problems.md)."""

from __future__ import annotations

from chassis.problems import problem_kind

__all__ = ["CHECKPOINT_NOT_FOUND", "LOG_MISMATCH", "NOT_A_PDF", "NO_CHECKPOINT_YET"]

CHECKPOINT_NOT_FOUND = problem_kind(
    "checkpoint-not-found",
    404,
    "Checkpoint not found",
    "No signed checkpoint has the tree size asked for.",
)
NO_CHECKPOINT_YET = problem_kind(
    "no-checkpoint-yet",
    404,
    "No checkpoint yet",
    "The log has not been checkpointed yet; the first checkpoint follows the first entries.",
)
LOG_MISMATCH = problem_kind(
    "log-mismatch",
    409,
    "The log does not match its checkpoint",
    "The stored entries no longer give the root hash a signed checkpoint holds: the log "
    "was changed after it was signed. Run a verification to find the first entry that "
    "differs.",
)
NOT_A_PDF = problem_kind(
    "not-a-pdf",
    422,
    "Not a PDF",
    "The body of a document verification is not a PDF at all (no PDF header in its first "
    "1024 bytes). A PDF whose signature or content is damaged is not refused: it gets a "
    "verdict.",
)
