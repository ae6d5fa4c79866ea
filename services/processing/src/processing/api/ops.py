"""Operators' controls."""

from __future__ import annotations

from fastapi import APIRouter

from chassis.openapi import AUTH_PROBLEMS, problem_responses
from chassis.problems import SERVICE_UNAVAILABLE
from processing.api.deps import Operator, Service
from processing.api.models import ScanOut

router = APIRouter(prefix="/v1/ops", tags=["operations"])


@router.post(
    "/deadline-scan",
    response_model=ScanOut,
    summary="Run one deadline scan now",
    description=(
        "The scan also runs on its own every `PROCESSING_DEADLINE_SCAN_INTERVAL_S`. "
        "Running it again is harmless: each dossier gets its overdue event at most once "
        "per due date."
    ),
    responses=problem_responses(*AUTH_PROBLEMS, SERVICE_UNAVAILABLE),
)
async def run_deadline_scan(principal: Operator, service: Service) -> ScanOut:
    report = await service.scan_deadlines()
    return ScanOut(overdue_emitted=report.overdue)
