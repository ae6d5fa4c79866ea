"""Citizen follow-up: status, supplement and withdrawal by receipt code and second factor.

Public (no token) and rate-limited per client IP.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response

from chassis.problems import PROBLEM_RESPONSES, problem_response
from intake.api.deps import FollowUpService, PerIpLimit, client_ip
from intake.api.models import DossierStatusOut, FollowUpAccepted, SupplementIn, WithdrawalIn
from intake.service import ConcealedNotFound, SecondFactor

__all__ = ["render_concealed", "router"]

router = APIRouter(prefix="/v1", tags=["follow-up"], responses=PROBLEM_RESPONSES)

Secret = Annotated[
    str | None, Header(alias="X-Follow-Up-Secret", description="the secret from the receipt")
]
Phone = Annotated[
    str | None,
    Header(alias="X-Applicant-Phone", description="or the applicant's phone number"),
]


async def render_concealed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConcealedNotFound)
    return problem_response(exc)


@router.get(
    "/dossiers/{receipt_code}/status",
    response_model=DossierStatusOut,
    summary="Status of a dossier, for the citizen who holds its receipt",
)
async def status(
    request: Request,
    receipt_code: str,
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
)
async def supplement(
    request: Request,
    receipt_code: str,
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
)
async def withdrawal(
    request: Request,
    receipt_code: str,
    follow_up: FollowUpService,
    per_ip: PerIpLimit,
    body: WithdrawalIn | None = None,
    secret: Secret = None,
    phone: Phone = None,
) -> JSONResponse:
    await per_ip.enforce(client_ip(request))
    accepted = await follow_up.withdraw(receipt_code, SecondFactor(secret, phone), body)
    return JSONResponse(accepted.model_dump(mode="json"), status_code=202)
