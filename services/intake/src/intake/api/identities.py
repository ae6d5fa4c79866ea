"""GET /v1/identities/{pseudonym}: who is behind a denouncer's pseudonym, for clearance.

Only an officer or leader holding the ``identity:resolve`` scope, of the agency that
handles the denunciation, may look; every look is published before anything is shown.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from chassis.problems import PROBLEM_RESPONSES
from intake.api.deps import Cleared, IdentityService
from intake.api.models import IdentityOut

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["identities"], responses=PROBLEM_RESPONSES)


@router.get(
    "/identities/{pseudonym}",
    response_model=IdentityOut,
    summary="Resolve a denouncer's pseudonym (needs the identity:resolve clearance)",
)
async def resolve(pseudonym: str, principal: Cleared, identities: IdentityService) -> JSONResponse:
    body = await identities.resolve(pseudonym, principal)
    return JSONResponse(body.model_dump(mode="json"), headers={"Cache-Control": "no-store"})
