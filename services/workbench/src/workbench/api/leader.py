"""The leaders' pages: what waits for their approval, and their agency's on-time
statistics with a chart drawn on the server (SVG, no script)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from workbench.adapters.api import ServiceProblem
from workbench.adapters.processing import QueueFilters
from workbench.api.officer import queue_page
from workbench.api.web import Leader, Wired, render, translator
from workbench.domain.views import local_date, on_time_chart, percent

router = APIRouter(include_in_schema=False)

_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_CURSOR = re.compile(r"^[A-Za-z0-9_=-]{1,512}$")


@router.get("/approvals")
async def approvals(
    request: Request,
    wired: Wired,
    session: Leader,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    filters = QueueFilters(
        statuses=("awaiting_approval",),
        cursor=cursor if cursor and _CURSOR.match(cursor) else None,
    )
    return await queue_page(
        request, wired, session, filters, title="queue.approvals_title", show_filters=False
    )


@router.get("/statistics")
async def statistics(
    request: Request,
    wired: Wired,
    session: Leader,
    first: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    last: Annotated[str | None, Query(alias="to", max_length=10)] = None,
) -> Response:
    t = translator(request)
    first = first if first and _DATE.match(first) else None
    last = last if last and _DATE.match(last) else None
    try:
        figures = await wired.processing.statistics(session.agency, first, last)
    except ServiceProblem as exc:
        if exc.status != 422:
            raise
        # An impossible period (the end before the start, too long): this month so far.
        figures = await wired.processing.statistics(session.agency)
    name = "procedure_name_en" if t.lang == "en" else "procedure_name_vi"
    rows = [
        {
            "code": p["procedure_code"],
            "name": p[name],
            "received": p["received"],
            "in_progress": p["in_progress"],
            "on_time": p["resolved_on_time"],
            "late": p["resolved_late"],
            "overdue_now": p["overdue_now"],
            "rate": percent(p["on_time_rate"], t),
        }
        for p in figures["procedures"]
    ]
    total = figures["total"]
    return render(
        request,
        "statistics.html",
        {
            "period": t(
                "stats.period",
                first=local_date(figures["period_from"]),
                last=local_date(figures["period_to"]),
            ),
            "first": figures["period_from"],
            "last": figures["period_to"],
            "rows": rows,
            "chart": on_time_chart(figures["procedures"], t),
            "total": {
                "received": total["received"],
                "in_progress": total["in_progress"],
                "on_time": total["resolved_on_time"],
                "late": total["resolved_late"],
                "overdue_now": total["overdue_now"],
                "rate": percent(total["on_time_rate"], t),
            },
        },
    )
