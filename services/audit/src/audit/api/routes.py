from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from audit.adapters.store import AuditStore
from audit.settings import AuditSettings
from chassis.auth import Principal, Role, require_roles
from chassis.problems import PROBLEM_RESPONSES


def build_router(settings: AuditSettings, store: AuditStore) -> APIRouter:
    router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=PROBLEM_RESPONSES)
    auditor = require_roles(settings, Role.AUDITOR)

    @router.get("/dossiers/{dossier_id}")
    async def dossier_trail(
        dossier_id: str, principal: Principal = Depends(auditor)
    ) -> dict[str, Any]:
        return {"dossier_id": dossier_id, "entries": await store.dossier_trail(dossier_id)}

    return router
