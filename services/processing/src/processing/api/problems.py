"""The kinds of problem processing's API answers with, beyond the chassis's
(docs/problems.md)."""

from __future__ import annotations

from chassis.problems import problem_kind

__all__ = [
    "ACTION_NOT_ALLOWED",
    "ASSIGNED_ELSEWHERE",
    "DOSSIER_CLOSED",
    "DOSSIER_NOT_VISIBLE",
    "PRECONDITION_REQUIRED",
    "RESULT_NOT_ISSUED",
    "SEARCH_NOT_CONFIGURED",
    "SUPPLEMENT_ALREADY_REQUESTED",
    "VERSION_MISMATCH",
]

DOSSIER_NOT_VISIBLE = problem_kind(
    "dossier-not-visible",
    403,
    "Forbidden",
    "No dossier with this identifier is in the caller's agency's queue: it does not exist "
    "or belongs to another agency, and the answer is the same for both.",
)
VERSION_MISMATCH = problem_kind(
    "version-mismatch",
    412,
    "Precondition failed",
    "`If-Match` does not name the dossier's current version (it changed since it was "
    "read; weak tags never match). Read it again and decide anew.",
    headers=["ETag"],
    members=["current_version"],
)
PRECONDITION_REQUIRED = problem_kind(
    "precondition-required",
    428,
    "Precondition required",
    "A state-changing call came without `If-Match` (or with a blank one).",
)
RESULT_NOT_ISSUED = problem_kind(
    "result-not-issued",
    409,
    "Result document not issued yet",
    "An approved dossier's result is returned with its signed document, which intake "
    "issues shortly after the approval; retry once the dossier shows `result_document`.",
)
ACTION_NOT_ALLOWED = problem_kind(
    "action-not-allowed",
    409,
    "Action not allowed",
    "The workflow does not allow this action in the dossier's status; `allowed_actions` "
    "lists what the caller may do instead.",
    members=["dossier_status", "allowed_actions"],
)
ASSIGNED_ELSEWHERE = problem_kind(
    "assigned-elsewhere",
    409,
    "Assigned to another officer",
    "Another officer holds the dossier; only a leader may act on it or reassign it.",
    members=["assignee"],
)
DOSSIER_CLOSED = problem_kind(
    "dossier-closed",
    409,
    "Dossier closed",
    "The dossier is settled, so it can no longer be assigned.",
    members=["dossier_status"],
)
SUPPLEMENT_ALREADY_REQUESTED = problem_kind(
    "supplement-already-requested",
    409,
    "Supplement already requested",
    "A supplement is asked for once, listing everything missing; a second request for "
    "the same dossier is a leader's to make, with the reason, which is recorded.",
    members=["supplement_requests"],
)
SEARCH_NOT_CONFIGURED = problem_kind(
    "search-not-configured",
    503,
    "Search not configured",
    "The search by the applicant's phone or ID number needs the key of their hashes "
    "(`PROCESSING_SEARCH_KEY`), which this deployment was started without.",
)
