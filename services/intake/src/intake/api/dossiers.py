"""POST /v1/dossiers: a validated submission becomes a dossier with a receipt."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from chassis.problems import PROBLEM_RESPONSES
from intake.api.deps import Caller, SubmissionService
from intake.api.models import SubmissionAccepted, SubmissionIn

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["dossiers"], responses=PROBLEM_RESPONSES)


@router.post(
    "/dossiers",
    status_code=202,
    response_model=SubmissionAccepted,
    summary="Submit a dossier, petition, complaint or denunciation",
    description=(
        "Portal clients submit on the online channel (fully online procedures only); "
        "officers key paper dossiers of their agency on the counter channel. A retry "
        "with the same Idempotency-Key returns the first answer."
    ),
)
async def submit(
    body: SubmissionIn,
    principal: Caller,
    submissions: SubmissionService,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    receipt = await submissions.submit(body, principal, idempotency_key)
    headers = {"Location": receipt.body.status_url, "Cache-Control": "no-store"}
    if receipt.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(receipt.body.model_dump(mode="json"), status_code=202, headers=headers)
