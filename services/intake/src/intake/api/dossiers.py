"""POST /v1/dossiers: a validated submission becomes a dossier with a receipt."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from chassis.openapi import AUTH_PROBLEMS, BODY_PROBLEMS, headers, problem_responses
from chassis.problems import SERVICE_UNAVAILABLE, TOO_MANY_REQUESTS
from intake.api.deps import Caller, SubmissionService
from intake.api.models import SubmissionAccepted, SubmissionIn
from intake.problems import (
    CHANNEL_NOT_ACCEPTED,
    DENUNCIATIONS_NOT_ACCEPTED,
    IDEMPOTENCY_KEY_REUSED,
    NOT_FULLY_ONLINE,
    SERVICE_NOT_CONFIGURED,
    SUBMISSION_IN_PROGRESS,
    SUBMISSION_INVALID,
    UNKNOWN_PROCEDURE,
)

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["dossiers"])


@router.post(
    "/dossiers",
    status_code=202,
    response_model=SubmissionAccepted,
    summary="Submit a dossier, petition, complaint or denunciation",
    description=(
        "Portal clients submit on the online channel (procedures that accept online "
        "lodging); the one-stop desk keys paper dossiers of every unit on the counter "
        "and post channels, officers and leaders those of their own unit; the hotline "
        "officer keys petitions taken by phone. The dossier goes to the procedure's "
        "unit. A retry with the same Idempotency-Key returns the first answer."
    ),
    response_description="Accepted: the receipt, to hand to the applicant",
    responses={
        202: {"headers": headers("Location", "Idempotent-Replayed", "Cache-Control")},
        **problem_responses(
            *AUTH_PROBLEMS,
            TOO_MANY_REQUESTS,
            *BODY_PROBLEMS,
            UNKNOWN_PROCEDURE,
            NOT_FULLY_ONLINE,
            CHANNEL_NOT_ACCEPTED,
            SUBMISSION_INVALID,
            IDEMPOTENCY_KEY_REUSED,
            SUBMISSION_IN_PROGRESS,
            SERVICE_UNAVAILABLE,
            SERVICE_NOT_CONFIGURED,
            DENUNCIATIONS_NOT_ACCEPTED,
        ),
    },
)
async def submit_dossier(
    body: SubmissionIn,
    principal: Caller,
    submissions: SubmissionService,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Any 1-255 visible ASCII characters, new for each submission (a "
            "UUID will do); a retry with the same key gets the first answer again",
            examples=["5f0c2a9e-7d1b-4c3a-9e8f-2b6d4a1c0e97"],
        ),
    ] = None,
) -> JSONResponse:
    receipt = await submissions.submit(body, principal, idempotency_key)
    headers = {"Location": receipt.body.status_url, "Cache-Control": "no-store"}
    if receipt.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(receipt.body.model_dump(mode="json"), status_code=202, headers=headers)
