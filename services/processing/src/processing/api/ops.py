"""Operators' controls."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from chassis.auth import Principal, Role, require_roles
from chassis.problems import PROBLEM_RESPONSES
from processing.api.models import ScanOut
from processing.commands import DossierService
from processing.settings import ProcessingSettings


def build_router(settings: ProcessingSettings, service: DossierService) -> APIRouter:
    router = APIRouter(prefix="/v1/ops", tags=["operations"], responses=PROBLEM_RESPONSES)
    operator = require_roles(settings, Role.OPERATOR)

    @router.post(
        "/deadline-scan",
        response_model=ScanOut,
        summary="Run one deadline scan now",
        description=(
            "The scan also runs on its own every `PROCESSING_DEADLINE_SCAN_INTERVAL_S`. "
            "Running it again is harmless: each dossier gets its overdue event and its "
            "apology slip at most once."
        ),
    )
    async def deadline_scan(principal: Principal = Depends(operator)) -> ScanOut:
        report = await service.scan_deadlines()
        return ScanOut(overdue_emitted=report.overdue, apologies_issued=report.apologies)

    return router
