"""Citizen follow-up: status, supplement and withdrawal by receipt code and second factor.

Public (no token) and rate-limited per client IP.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Header, Path, Request
from fastapi.responses import JSONResponse, Response

from chassis.openapi import BODY_PROBLEMS, headers, problem_responses
from chassis.problems import (
    SERVICE_UNAVAILABLE,
    TOO_MANY_REQUESTS,
    problem_response,
)
from intake.api.deps import FollowUpService, PerIpLimit, client_ip
from intake.api.models import (
    RECEIPT_CODE,
    DossierStatusOut,
    FollowUpAccepted,
    SupplementIn,
    WithdrawalIn,
)
from intake.problems import (
    DOSSIER_NOT_FOUND,
    DOSSIER_SETTLED,
    NO_SUPPLEMENT_REQUESTED,
    PROCEDURE_WITHDRAWN,
    SECOND_FACTOR_REQUIRED,
    SERVICE_NOT_CONFIGURED,
    SUPPLEMENT_INVALID,
)
from intake.service import ConcealedNotFound, SecondFactor

__all__ = ["render_concealed", "router"]

router = APIRouter(prefix="/v1", tags=["follow-up"])

ReceiptCode = Annotated[
    str,
    Path(description="the code on the receipt (case and dashes optional)", examples=[RECEIPT_CODE]),
]
Secret = Annotated[
    str | None, Header(alias="X-Follow-Up-Secret", description="the secret from the receipt")
]
Phone = Annotated[
    str | None,
    Header(alias="X-Applicant-Phone", description="or the applicant's phone number"),
]
# What opening a dossier by its receipt code can answer.
_OPENING = (
    SECOND_FACTOR_REQUIRED,
    DOSSIER_NOT_FOUND,
    TOO_MANY_REQUESTS,
    SERVICE_NOT_CONFIGURED,
    SERVICE_UNAVAILABLE,
)


async def render_concealed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConcealedNotFound)
    return problem_response(exc)


@router.get(
    "/dossiers/{receipt_code}/status",
    response_model=DossierStatusOut,
    summary="Status of a dossier, for the citizen who holds its receipt",
    description="Needs the receipt's follow-up secret or the applicant's phone number. An "
    "unknown code and a wrong second factor get the same 404.",
    responses={
        200: {"headers": headers("Cache-Control")},
        **problem_responses(*_OPENING, PROCEDURE_WITHDRAWN),
    },
)
async def get_dossier_status(
    request: Request,
    receipt_code: ReceiptCode,
    follow_up: FollowUpService,
    per_ip: PerIpLimit,
    secret: Secret = None,
    phone: Phone = None,
) -> JSONResponse:
    await per_ip.enforce(client_ip(request))
    body = await follow_up.status(receipt_code, SecondFactor(secret, phone))
    return JSONResponse(body.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@router.post(
    "/dossiers/{receipt_code}/supplements",
    status_code=202,
    response_model=FollowUpAccepted,
    summary="Hand in the documents processing asked for",
    description="Only while the dossier awaits a supplement; processing resumes its clock "
    "when it receives them.",
    responses=problem_responses(
        *_OPENING,
        *BODY_PROBLEMS,
        NO_SUPPLEMENT_REQUESTED,
        SUPPLEMENT_INVALID,
        PROCEDURE_WITHDRAWN,
    ),
)
async def supplement_dossier(
    request: Request,
    receipt_code: ReceiptCode,
    body: SupplementIn,
    follow_up: FollowUpService,
    per_ip: PerIpLimit,
    secret: Secret = None,
    phone: Phone = None,
) -> JSONResponse:
    await per_ip.enforce(client_ip(request))
    accepted = await follow_up.supplement(receipt_code, SecondFactor(secret, phone), body)
    return JSONResponse(accepted.model_dump(mode="json"), status_code=202)


@router.post(
    "/dossiers/{receipt_code}/withdrawal",
    status_code=202,
    response_model=FollowUpAccepted,
    summary="Ask to withdraw a dossier that is not yet settled",
    description="Processing withdraws it unless it is decided meanwhile; the citizen is "
    "told either way.",
    responses=problem_responses(*_OPENING, *BODY_PROBLEMS, DOSSIER_SETTLED),
)
async def withdraw_dossier(
    request: Request,
    receipt_code: ReceiptCode,
    follow_up: FollowUpService,
    per_ip: PerIpLimit,
    body: Annotated[
        WithdrawalIn | None,
        Body(
            description="Optional: why the applicant withdraws",
            openapi_examples={
                "with a reason": {"value": {"reason": "Cơ sở đã ngừng hoạt động"}},
            },
        ),
    ] = None,
    secret: Secret = None,
    phone: Phone = None,
) -> JSONResponse:
    await per_ip.enforce(client_ip(request))
    accepted = await follow_up.withdraw(receipt_code, SecondFactor(secret, phone), body)
    return JSONResponse(accepted.model_dump(mode="json"), status_code=202)
