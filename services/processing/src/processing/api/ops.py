"""Operators' controls."""

from __future__ import annotations

from fastapi import APIRouter

from chassis.problems import PROBLEM_RESPONSES
from processing.api.deps import Operator, Service
from processing.api.models import ScanOut

router = APIRouter(prefix="/v1/ops", tags=["operations"], responses=PROBLEM_RESPONSES)


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
async def deadline_scan(principal: Operator, service: Service) -> ScanOut:
    report = await service.scan_deadlines()
    return ScanOut(overdue_emitted=report.overdue, apologies_issued=report.apologies)
