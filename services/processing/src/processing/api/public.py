"""Public transparency: on-time statistics per procedure and per agency. No login, no
personal data: only counts of dossiers, never one dossier."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Any

from cachetools import TTLCache
from fastapi import APIRouter, Query
from pydantic import BeforeValidator

from chassis.catalogue import Catalogue
from chassis.problems import PROBLEM_RESPONSES, Problem
from processing.adapters.store import DossierStore
from processing.api.models import (
    CODE_PATTERN,
    AgencyFigures,
    Figures,
    ProcedureFigures,
    StatisticsOut,
)
from processing.commands import DossierService
from processing.domain.statistics import Tally, roll_up
from processing.settings import ProcessingSettings

_CacheKey = tuple[date, date, str | None, str | None, date]
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


def build_router(
    settings: ProcessingSettings,
    service: DossierService,
    store: DossierStore,
    catalogue: Catalogue,
) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["transparency"], responses=PROBLEM_RESPONSES)
    # Many citizens look at the same page; a short cache keeps them off the store.
    cache: TTLCache[_CacheKey, StatisticsOut] | None = (
        TTLCache(maxsize=512, ttl=settings.statistics_cache_s)
        if settings.statistics_cache_s > 0
        else None
    )

    @router.get(
        "/statistics",
        response_model=StatisticsOut,
        summary="On-time statistics of the dossiers received in a period",
        description=(
            "For the dossiers received between `from` and `to` (inclusive): how many are "
            "still in progress, were withdrawn, were decided on time or late, and how many "
            "are past their due date today. Defaults to the current month so far."
        ),
    )
    async def statistics(
        period_from: IsoDate | None = Query(default=None, alias="from"),
        period_to: IsoDate | None = Query(default=None, alias="to"),
        agency: str | None = Query(default=None, max_length=64, pattern=CODE_PATTERN),
        procedure_code: str | None = Query(default=None, max_length=64, pattern=CODE_PATTERN),
    ) -> StatisticsOut:
        today = service.calendar.local_date(service.now())
        last = period_to or today
        first = period_from or last.replace(day=1)
        if first > last:
            raise Problem(
                422,
                "Request is not valid",
                "the period starts after it ends",
                errors=[{"pointer": "query:/from", "detail": "must not be after `to`"}],
            )
        if last - first > timedelta(days=settings.statistics_max_days - 1):
            raise Problem(
                422,
                "Request is not valid",
                f"a period may cover at most {settings.statistics_max_days} days",
                errors=[{"pointer": "query:/to", "detail": "period too long"}],
            )
        key: _CacheKey = (first, last, agency, procedure_code, today)
        if cache is not None and key in cache:
            return cache[key]
        outcomes = await store.outcome_counts(first, last, agency, procedure_code)
        overdue = await store.overdue_counts(first, last, today, agency, procedure_code)
        report = roll_up(outcomes, overdue)
        procedures = []
        for code, tally in report.by_procedure.items():
            procedure = catalogue.get(code)
            procedures.append(
                ProcedureFigures(
                    procedure_code=code,
                    procedure_name_vi=procedure.name_vi if procedure else code,
                    procedure_name_en=procedure.name_en if procedure else code,
                    **_figures(tally),
                )
            )
        agencies = []
        for code, tally in report.by_agency.items():
            known = catalogue.agencies.get(code)
            agencies.append(
                AgencyFigures(
                    agency=code,
                    agency_name_vi=known.name_vi if known else code,
                    agency_name_en=known.name_en if known else code,
                    **_figures(tally),
                )
            )
        result = StatisticsOut(
            period_from=first,
            period_to=last,
            as_of=today,
            procedures=procedures,
            agencies=agencies,
            total=Figures(**_figures(report.total)),
        )
        if cache is not None:
            cache[key] = result
        return result

    return router
