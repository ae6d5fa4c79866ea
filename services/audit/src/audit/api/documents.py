"""Anyone verifying a document the department issued: public, no token.

``POST /v1/documents/verify`` takes the PDF itself as the body (``application/pdf``),
spools it (in memory up to 1 MiB, then on disk) while hashing it, and answers a verdict:
the signature, whether these exact bytes were issued, and the inclusion proof of the entry
recording the issue up to a signed checkpoint. A damaged PDF gets a verdict (200); a body
that is not a PDF at all is refused (422).
"""

from __future__ import annotations

import hashlib
import tempfile
from typing import IO, Annotated

from fastapi import APIRouter, Header, Request

from audit.api.dependencies import Context, Documents
from audit.api.models import (
    CheckpointOut,
    DocumentVerdictOut,
    InclusionProofOut,
    IssueEntryOut,
    SignatureOut,
)
from audit.api.problems import LOG_MISMATCH, NOT_A_PDF
from audit.domain.documents import PDF_HEADER_WINDOW, looks_like_pdf
from audit.service.documents import DocumentVerdict
from audit.service.verification import LogMismatch
from chassis.openapi import BODY_PROBLEMS, problem_responses
from chassis.problems import BODY_TOO_LARGE, SERVICE_UNAVAILABLE, VALIDATION_FAILED

__all__ = ["VERIFY_PATH", "router"]

router = APIRouter(prefix="/v1/documents", tags=["documents"])

VERIFY_PATH = "/v1/documents/verify"
PDF = "application/pdf"
# Small documents stay in memory; a large one goes to a temporary file, never whole in RAM.
_SPOOL_IN_MEMORY = 1024 * 1024


async def _spool(request: Request, limit: int) -> tuple[IO[bytes], str, int]:
    """The body in a spool, with its SHA-256 and size."""
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
    digest = hashlib.sha256()
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BODY_TOO_LARGE(f"at most {limit} bytes")
            digest.update(chunk)
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    return spool, digest.hexdigest(), size


def _verdict_out(verdict: DocumentVerdict) -> DocumentVerdictOut:
    signature = verdict.signature
    issue = verdict.issue
    proof = verdict.proof
    return DocumentVerdictOut(
        sha256=verdict.sha256,
        size=verdict.size,
        signature=SignatureOut(
            valid=signature.valid,
            trusted=signature.trusted,
            signer=signature.signer,
            signed_at=signature.signed_at,
            problem=signature.problem,
        ),
        issued=verdict.issued,
        proof_status=verdict.status.value,
        entry=(
            IssueEntryOut(
                seq=issue.seq,
                type=issue.event_type,
                time=issue.occurred_at,
                receipt_code=issue.receipt_code,
                decision_number=issue.decision_number,
            )
            if issue is not None
            else None
        ),
        inclusion_proof=(
            InclusionProofOut(
                seq=proof.seq,
                leaf_index=proof.seq - 1,
                tree_size=proof.checkpoint.tree_size,
                entry_hash=str(proof.entry.get("entry_hash")),
                path=[h.hex() for h in proof.path],
                checkpoint=CheckpointOut(**proof.checkpoint.model_dump()),
                entry=proof.entry,
            )
            if proof is not None
            else None
        ),
        checkpoint=(
            CheckpointOut(**verdict.checkpoint.model_dump())
            if verdict.checkpoint is not None
            else None
        ),
    )


@router.post(
    "/verify",
    summary="Verify a document the department issued (public, no token)",
    description="The request body is the PDF itself (`Content-Type: application/pdf`, not "
    "multipart). The answer says whether its signature is valid and trusted, who signed it, "
    "and whether these exact bytes were issued: the audit log entry recording the issue "
    "and its inclusion proof up to a signed checkpoint, to check offline with `python -m "
    "audit.cli verify-document`. A copy changed by a single byte is neither valid nor "
    "issued; the answer is still 200, since the request itself was fine.",
    response_model=DocumentVerdictOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The PDF's bytes",
            "content": {
                PDF: {
                    "schema": {"type": "string", "format": "binary"},
                    "example": "%PDF-1.7 … (the signed document's bytes)",
                }
            },
        }
    },
    responses=problem_responses(
        *BODY_PROBLEMS, VALIDATION_FAILED, NOT_A_PDF, LOG_MISMATCH, SERVICE_UNAVAILABLE
    ),
)
async def verify_document(
    request: Request,
    documents: Documents,
    context: Context,
    content_type: Annotated[str | None, Header(alias="Content-Type")] = None,
) -> DocumentVerdictOut:
    if (content_type or "").split(";", 1)[0].strip().lower() != PDF:
        raise VALIDATION_FAILED(
            f"send the PDF itself as the body, with Content-Type: {PDF}",
            errors=[{"pointer": "header:/Content-Type", "detail": f"must be {PDF}"}],
        )
    spool, sha256, size = await _spool(request, context.settings.document_max_bytes)
    with spool:
        spool.seek(0)
        if not looks_like_pdf(spool.read(PDF_HEADER_WINDOW)):
            raise NOT_A_PDF("the body is not a PDF")
        try:
            verdict = await documents.verify(spool, sha256=sha256, size=size)
        except LogMismatch as exc:
            raise LOG_MISMATCH(str(exc)) from exc
    return _verdict_out(verdict)
