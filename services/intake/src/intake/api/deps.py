"""What intake's routes depend on, as ``Annotated`` aliases resolved per request.

The routers are module-level, so what they need is built once by the composition root
(``intake.main``) into an `IntakeApi`, kept on the application's state and handed out
from there: the use cases, the catalogue, the per-caller throttles and the check of the
caller's token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from chassis.auth import Principal, Role, Scope, caller_with, needs_scopes
from chassis.catalogue import Catalogue
from chassis.problems import FORBIDDEN
from intake.adapters.ratelimit import RateLimit
from intake.service import FollowUp, Identities, Slips, Submissions
from intake.service.documents import Documents

__all__ = [
    "Caller",
    "CatalogueDep",
    "Cleared",
    "DocumentReader",
    "DocumentService",
    "FollowUpService",
    "IdentityService",
    "IntakeApi",
    "PerIpLimit",
    "SlipPrinter",
    "SlipService",
    "SubmissionService",
    "client_ip",
    "install",
]


@dataclass(frozen=True)
class IntakeApi:
    catalogue: Catalogue
    submissions: Submissions
    follow_up: FollowUp
    identities: Identities
    slips: Slips
    per_client: RateLimit
    per_ip: RateLimit
    documents: Documents


def install(app: FastAPI, api: IntakeApi) -> None:
    app.state.intake = api


# Dependencies are coroutines even where nothing is awaited: FastAPI would run a plain
# function in its thread pool.


async def _api(request: Request) -> IntakeApi:
    api: IntakeApi = request.app.state.intake
    return api


Api = Annotated[IntakeApi, Depends(_api)]


async def _catalogue(api: Api) -> Catalogue:
    return api.catalogue


async def _submissions(api: Api) -> Submissions:
    return api.submissions


async def _follow_up(api: Api) -> FollowUp:
    return api.follow_up


async def _identities(api: Api) -> Identities:
    return api.identities


async def _slips(api: Api) -> Slips:
    return api.slips


async def _per_ip(api: Api) -> RateLimit:
    return api.per_ip


async def _documents(api: Api) -> Documents:
    return api.documents


CatalogueDep = Annotated[Catalogue, Depends(_catalogue)]
SubmissionService = Annotated[Submissions, Depends(_submissions)]
FollowUpService = Annotated[FollowUp, Depends(_follow_up)]
IdentityService = Annotated[Identities, Depends(_identities)]
SlipService = Annotated[Slips, Depends(_slips)]
# Citizens' follow-up requests per IP address. The route counts the request itself
# rather than have a dependency do it, so that a request refused as malformed is not
# counted.
PerIpLimit = Annotated[RateLimit, Depends(_per_ip)]
DocumentService = Annotated[Documents, Depends(_documents)]

# ----------------------------------------------------------------- callers

Submitter = Annotated[
    Principal,
    Depends(caller_with(Role.PORTAL, Role.OFFICER, Role.LEADER, Role.DESK, Role.HOTLINE)),
]
Staff = Annotated[Principal, Depends(caller_with(Role.OFFICER, Role.LEADER))]
DeskOrUnit = Annotated[Principal, Depends(caller_with(Role.DESK, Role.OFFICER, Role.LEADER))]


async def _caller(principal: Submitter, api: Api) -> Principal:
    await api.per_client.enforce(principal.actor())
    return principal


@needs_scopes(Scope.IDENTITY_RESOLVE)
async def _cleared(principal: Staff, api: Api) -> Principal:
    if Scope.IDENTITY_RESOLVE.value not in principal.scopes:
        raise FORBIDDEN("resolving a pseudonym needs identity:resolve")
    await api.per_client.enforce(principal.actor())
    return principal


async def _slip_printer(principal: DeskOrUnit, api: Api) -> Principal:
    await api.per_client.enforce(principal.actor())
    return principal


async def _document_reader(principal: DeskOrUnit, api: Api) -> Principal:
    await api.per_client.enforce(principal.actor())
    return principal


# A portal client, the desk, the hotline or an officer, within the per-client rate limit.
Caller = Annotated[Principal, Depends(_caller)]
# The one-stop desk, or an officer or leader of the dossier's unit, within the same limit.
SlipPrinter = Annotated[Principal, Depends(_slip_printer)]
# The desk, or an officer or leader (of the dossier's unit: the use case checks), within
# the same limit.
DocumentReader = Annotated[Principal, Depends(_document_reader)]
# An officer or leader holding the identity:resolve clearance, within the same limit.
Cleared = Annotated[Principal, Depends(_cleared)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
