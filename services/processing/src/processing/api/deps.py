"""What the routes depend on, as `Annotated` aliases: the caller, checked for a role,
and the service. The composition root (`processing.main`) puts the wiring on the app's
state, so the routers can be built once, at import."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from chassis.auth import Principal, Role, caller_with
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


require_staff = caller_with(Role.OFFICER, Role.LEADER)
require_leader = caller_with(Role.LEADER)
require_operator = caller_with(Role.OPERATOR)

Staff = Annotated[Principal, Depends(require_staff)]
Leader = Annotated[Principal, Depends(require_leader)]
Operator = Annotated[Principal, Depends(require_operator)]
Service = Annotated[ProcessingService, Depends(service)]
