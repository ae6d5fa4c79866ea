"""What the routes depend on, as `Annotated` aliases: the caller, checked for a role,
and the service. The composition root (`processing.main`) puts the wiring on the app's
state, so the routers can be built once, at import."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from chassis.auth import Principal, Role, principal_dependency, require_roles
from processing.service import ProcessingService
from processing.settings import ProcessingSettings

__all__ = ["Leader", "Operator", "Service", "Staff", "Wiring", "install"]


@dataclass(frozen=True)
class Wiring:
    settings: ProcessingSettings
    service: ProcessingService


def install(app: FastAPI, wiring: Wiring) -> None:
    """Hand the app's routes their wiring."""
    app.state.processing = wiring


def wiring(request: Request) -> Wiring:
    found = getattr(request.app.state, "processing", None)
    if not isinstance(found, Wiring):
        raise RuntimeError("processing.main did not install the routes' wiring")
    return found


# A coroutine though nothing is awaited: FastAPI would run a plain function in its
# thread pool.
async def service(request: Request) -> ProcessingService:
    return wiring(request).service


# The same scheme as the chassis's, so the OpenAPI document names one bearer scheme.
_bearer = HTTPBearer(auto_error=False)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


RoleCheck = Callable[[Request, HTTPAuthorizationCredentials | None], Awaitable[Principal]]


def _holding(*roles: Role) -> RoleCheck:
    """A dependency admitting a caller with any of ``roles``: the chassis's token check
    and role check, with the settings of the app that serves the request."""

    async def dependency(request: Request, credentials: Credentials) -> Principal:
        settings = wiring(request).settings
        principal = await principal_dependency(settings)(request, credentials)
        return await require_roles(settings, *roles)(principal)

    return dependency


require_staff = _holding(Role.OFFICER, Role.LEADER)
require_leader = _holding(Role.LEADER)
require_operator = _holding(Role.OPERATOR)

Staff = Annotated[Principal, Depends(require_staff)]
Leader = Annotated[Principal, Depends(require_leader)]
Operator = Annotated[Principal, Depends(require_operator)]
Service = Annotated[ProcessingService, Depends(service)]
