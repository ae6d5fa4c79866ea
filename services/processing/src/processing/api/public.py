"""Public transparency: on-time statistics per procedure and per agency. No login, no
personal data: only counts of dossiers, never one dossier."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BeforeValidator

from chassis.openapi import problem_responses
from chassis.problems import SERVICE_UNAVAILABLE, VALIDATION_FAILED
from processing.api.deps import Service
from processing.api.models import (
    CODE_PATTERN,
    AgencyFigures,
    Figures,
    ProcedureFigures,
    StatisticsOut,
)
from processing.domain.statistics import Tally
from processing.service import InvalidPeriod

# [0-9], not \d: \d also matches other scripts' digits ("２０２６").
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _date_text(value: Any) -> Any:
    # Pydantic would also read "86400" as seconds since 1970; the API documents a date.
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_date_text)]


def _figures(tally: Tally) -> dict[str, int | float | None]:
    return Figures(
        received=tally.received,
        in_progress=tally.in_progress,
        withdrawn=tally.withdrawn,
        resolved_on_time=tally.resolved_on_time,
        resolved_late=tally.resolved_late,
        overdue_now=tally.overdue_now,
        on_time_rate=tally.on_time_rate,
        average_working_days=tally.average_working_days,
    ).model_dump()


router = APIRouter(prefix="/v1", tags=["transparency"])


@router.get(
    "/statistics",
    response_model=StatisticsOut,
    summary="On-time statistics of the dossiers received in a period",
    description=(
        "For the dossiers received between `from` and `to` (inclusive): how many are "
        "still in progress, were withdrawn, were decided on time or late, and how many "
        "are past their due date today. Defaults to the current month so far."
    ),
    responses=problem_responses(SERVICE_UNAVAILABLE),
)
async def get_statistics(
    service: Service,
    period_from: Annotated[
        IsoDate | None, Query(alias="from", description="first day (YYYY-MM-DD), inclusive")
    ] = None,
    period_to: Annotated[
        IsoDate | None, Query(alias="to", description="last day (YYYY-MM-DD), inclusive")
    ] = None,
    agency: Annotated[str | None, Query(max_length=64, pattern=CODE_PATTERN)] = None,
    procedure_code: Annotated[str | None, Query(max_length=64, pattern=CODE_PATTERN)] = None,
) -> StatisticsOut:
    try:
        figures = await service.statistics(period_from, period_to, agency, procedure_code)
    except InvalidPeriod as exc:
        raise VALIDATION_FAILED(
            str(exc),
            errors=[{"pointer": f"query:/{exc.parameter}", "detail": exc.detail}],
        ) from exc
    return StatisticsOut(
        period_from=figures.first,
        period_to=figures.last,
        as_of=figures.as_of,
        procedures=[
            ProcedureFigures(
                procedure_code=named.code,
                procedure_name_vi=named.name_vi,
                procedure_name_en=named.name_en,
                **_figures(named.tally),
            )
            for named in figures.procedures
        ],
        agencies=[
            AgencyFigures(
                agency=named.code,
                agency_name_vi=named.name_vi,
                agency_name_en=named.name_en,
                **_figures(named.tally),
            )
            for named in figures.agencies
        ],
        total=Figures(**_figures(figures.total)),
    )
