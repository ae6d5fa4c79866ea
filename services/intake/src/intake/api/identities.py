"""GET /v1/identities/{pseudonym}: who is behind a denouncer's pseudonym, for clearance.

Only an officer or leader holding the ``identity:resolve`` scope, of the agency that
handles the denunciation, may look; every look is published before anything is shown.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from chassis.openapi import AUTH_PROBLEMS, headers, problem_responses
from chassis.problems import SERVICE_UNAVAILABLE, TOO_MANY_REQUESTS
from intake.api.deps import Cleared, IdentityService
from intake.api.models import IdentityOut
from intake.problems import IDENTITY_UNREADABLE, PSEUDONYM_NOT_FOUND, SERVICE_NOT_CONFIGURED

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["identities"])


@router.get(
    "/identities/{pseudonym}",
    response_model=IdentityOut,
    summary="Resolve a denouncer's pseudonym (needs the identity:resolve clearance)",
    description="Only for the agency handling the denunciation; `dossier.identity-resolved.v1` "
    "is published (and audited) before the identity is shown.",
    responses={
        200: {"headers": headers("Cache-Control")},
        **problem_responses(
            *AUTH_PROBLEMS,
            TOO_MANY_REQUESTS,
            PSEUDONYM_NOT_FOUND,
            SERVICE_UNAVAILABLE,
            SERVICE_NOT_CONFIGURED,
            IDENTITY_UNREADABLE,
        ),
    },
)
async def resolve_identity(
    pseudonym: Annotated[str, Path(examples=["den-3f9a1c7b2e4d6a8c0b1e"])],
    principal: Cleared,
    identities: IdentityService,
) -> JSONResponse:
    body = await identities.resolve(pseudonym, principal)
    return JSONResponse(body.model_dump(mode="json"), headers={"Cache-Control": "no-store"})
