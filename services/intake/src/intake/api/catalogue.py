"""The public procedure catalogue: what the department handles, how, in what time."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from chassis.catalogue import Catalogue, DossierKind, OnlineLevel, Sector
from chassis.problems import PROBLEM_RESPONSES, Problem
from intake.api.models import ProcedureDetail, ProcedureList, ProcedureSummary

# The catalogue changes with a release, not by the minute; portals may cache it.
_CACHE = {"Cache-Control": "public, max-age=300"}


def build_catalogue_router(catalogue: Catalogue) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["catalogue"], responses=PROBLEM_RESPONSES)

    @router.get("/procedures", response_model=ProcedureList, summary="Search the catalogue")
    async def procedures(
        sector: Sector | None = None,
        level: OnlineLevel | None = Query(default=None, description="online level"),
        kind: DossierKind | None = None,
        text: str | None = Query(
            default=None,
            max_length=200,
            description="words of the code or name, in any order; diacritics optional",
        ),
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
    async def procedure(code: str) -> JSONResponse:
        found = catalogue.get(code)
        if found is None:
            raise Problem(404, "Procedure not found", f"no procedure {code!r} in the catalogue")
        body = ProcedureDetail.of(found, catalogue.agency(found.agency))
        return JSONResponse(body.model_dump(mode="json", by_alias=True), headers=_CACHE)

    return router
