"""The kinds of problem intake answers with, beyond the chassis's (docs/problems.md)."""

from __future__ import annotations

from chassis.problems import problem_kind

__all__ = [
    "CHANNEL_NOT_ACCEPTED",
    "DENUNCIATIONS_NOT_ACCEPTED",
    "DOCUMENT_REFUSED",
    "DOCUMENT_TOO_LARGE",
    "DOSSIER_NOT_FOUND",
    "DOSSIER_SETTLED",
    "IDEMPOTENCY_KEY_REUSED",
    "IDENTITY_UNREADABLE",
    "NOT_FULLY_ONLINE",
    "NO_SUPPLEMENT_REQUESTED",
    "PROCEDURE_NOT_FOUND",
    "PROCEDURE_WITHDRAWN",
    "PSEUDONYM_NOT_FOUND",
    "RECEIPT_NOT_FOUND",
    "REFUSALS",
    "SECOND_FACTOR_REQUIRED",
    "SERVICE_NOT_CONFIGURED",
    "SUBMISSION_INVALID",
    "SUBMISSION_IN_PROGRESS",
    "SUPPLEMENT_INVALID",
    "UNKNOWN_PROCEDURE",
]

PROCEDURE_NOT_FOUND = problem_kind(
    "procedure-not-found",
    404,
    "Procedure not found",
    "No procedure of the catalogue has this code.",
)
DOSSIER_NOT_FOUND = problem_kind(
    "dossier-not-found",
    404,
    "Dossier not found",
    "No dossier matches this receipt code and second factor. An unknown code and a wrong "
    "secret or phone number get this same answer, byte for byte.",
)
PSEUDONYM_NOT_FOUND = problem_kind(
    "pseudonym-not-found",
    404,
    "Pseudonym not found",
    "No denunciation of the caller's agency is filed under this pseudonym (another "
    "agency's denunciation gets this same answer).",
)
SECOND_FACTOR_REQUIRED = problem_kind(
    "second-factor-required",
    401,
    "Second factor required",
    "A citizen's follow-up request carries neither `X-Follow-Up-Secret` nor `X-Applicant-Phone`.",
)
UNKNOWN_PROCEDURE = problem_kind(
    "unknown-procedure",
    422,
    "Unknown procedure",
    "The submission names a procedure code the catalogue does not have.",
    members=["errors"],
)
NOT_FULLY_ONLINE = problem_kind(
    "not-fully-online",
    422,
    "Procedure is not lodged online",
    "The procedure accepts no online lodging (neither fully nor partly online); the "
    "one-stop desk receives it at the counter or by post.",
    members=["errors"],
)
CHANNEL_NOT_ACCEPTED = problem_kind(
    "channel-not-accepted",
    422,
    "Channel not accepted",
    "The procedure cannot be lodged on this channel: the phone channel takes petitions only.",
    members=["errors"],
)
RECEIPT_NOT_FOUND = problem_kind(
    "receipt-not-found",
    404,
    "Receipt not found",
    "No accepted dossier of the caller's unit has this receipt code (another unit's "
    "dossier gets this same answer; the one-stop desk sees every unit's).",
)
SUBMISSION_INVALID = problem_kind(
    "submission-invalid",
    422,
    "Submission is not valid",
    "The form breaks the procedure's JSON Schema, or an attachment, the free text or the "
    "denouncer's address breaks a rule; `errors` points at each field.",
    members=["errors"],
)
SUPPLEMENT_INVALID = problem_kind(
    "supplement-invalid",
    422,
    "Supplement is not valid",
    "An attachment of the supplement names a document the procedure does not ask for, or "
    "breaks a type or size limit; `errors` points at each.",
    members=["errors"],
)
IDEMPOTENCY_KEY_REUSED = problem_kind(
    "idempotency-key-reused",
    409,
    "Idempotency-Key reused",
    "The `Idempotency-Key` was used by the same client for a different submission.",
)
SUBMISSION_IN_PROGRESS = problem_kind(
    "submission-in-progress",
    409,
    "Submission in progress",
    "The first request with this `Idempotency-Key` is still being recorded; retry after "
    "`Retry-After` seconds to get its receipt.",
    headers=["Retry-After"],
)
NO_SUPPLEMENT_REQUESTED = problem_kind(
    "no-supplement-requested",
    409,
    "No supplement requested",
    "Documents are handed in only while the dossier awaits a supplement.",
)
DOSSIER_SETTLED = problem_kind(
    "dossier-settled",
    409,
    "Dossier already settled",
    "The dossier is decided or withdrawn already and cannot be withdrawn.",
)
PROCEDURE_WITHDRAWN = problem_kind(
    "procedure-withdrawn",
    410,
    "Procedure withdrawn",
    "The dossier's procedure has left the catalogue.",
)
IDENTITY_UNREADABLE = problem_kind(
    "identity-unreadable",
    500,
    "Identity cannot be opened",
    "The denouncer's sealed identity cannot be decrypted with the configured key; the "
    "error was logged.",
)
SERVICE_NOT_CONFIGURED = problem_kind(
    "service-not-configured",
    503,
    "Service not configured",
    "A key the operation needs (`INTAKE_FOLLOW_UP_KEY`, `INTAKE_IDENTITY_KEY`) is not configured.",
)
DENUNCIATIONS_NOT_ACCEPTED = problem_kind(
    "denunciations-not-accepted",
    503,
    "Denunciations are not accepted now",
    "No identity key is configured to protect a denouncer, so denunciations are refused "
    "rather than stored in the clear.",
)

DOCUMENT_REFUSED = problem_kind(
    "document-refused",
    422,
    "Document refused",
    "The uploaded file's type is not accepted or its bytes are not its declared media "
    "type, or it is a PDF carrying JavaScript, a launch or automatic action, embedded "
    "files or encryption (`risks` names each); nothing was stored.",
    members=["risks"],
)
DOCUMENT_TOO_LARGE = problem_kind(
    "document-too-large",
    413,
    "Document too large",
    "The uploaded file is larger than one attachment may be; nothing was stored.",
)
RANGE_NOT_SATISFIABLE = problem_kind(
    "range-not-satisfiable",
    416,
    "Range not satisfiable",
    "The `Range` starts beyond the document's end; the `Content-Range` header gives its size.",
)

# The kind of each submission refusal of the domain, by its reason.
REFUSALS = {
    "unknown-procedure": UNKNOWN_PROCEDURE,
    "not-fully-online": NOT_FULLY_ONLINE,
    "channel-not-accepted": CHANNEL_NOT_ACCEPTED,
    "submission-invalid": SUBMISSION_INVALID,
    "supplement-invalid": SUPPLEMENT_INVALID,
}
