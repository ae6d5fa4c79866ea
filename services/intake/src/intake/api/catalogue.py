"""The public procedure catalogue: what the department handles, how, in what time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from chassis.catalogue import DossierKind, OnlineLevel, Sector
from chassis.problems import PROBLEM_RESPONSES, Problem
from intake.api.deps import CatalogueDep
from intake.api.models import ProcedureDetail, ProcedureList, ProcedureSummary

__all__ = ["router"]

# The catalogue changes with a release, not by the minute; portals may cache it.
_CACHE = {"Cache-Control": "public, max-age=300"}

router = APIRouter(prefix="/v1", tags=["catalogue"], responses=PROBLEM_RESPONSES)


@router.get("/procedures", response_model=ProcedureList, summary="Search the catalogue")
async def procedures(
    catalogue: CatalogueDep,
    sector: Sector | None = None,
    level: Annotated[OnlineLevel | None, Query(description="online level")] = None,
    kind: DossierKind | None = None,
    text: Annotated[
        str | None,
        Query(
            max_length=200,
            description="words of the code or name, in any order; diacritics optional",
        ),
    ] = None,
) -> JSONResponse:
    found = catalogue.search(sector=sector, level=level, text=text, kind=kind)
    body = ProcedureList(
        count=len(found),
        procedures=[ProcedureSummary.of(p, catalogue.agency(p.agency)) for p in found],
    )
    return JSONResponse(body.model_dump(mode="json"), headers=_CACHE)


@router.get(
    "/procedures/{code}",
    response_model=ProcedureDetail,
    summary="One procedure, with its documents and the JSON Schema of its form",
)
async def procedure(code: str, catalogue: CatalogueDep) -> JSONResponse:
    found = catalogue.get(code)
    if found is None:
        raise Problem(404, "Procedure not found", f"no procedure {code!r} in the catalogue")
    body = ProcedureDetail.of(found, catalogue.agency(found.agency))
    return JSONResponse(body.model_dump(mode="json", by_alias=True), headers=_CACHE)
