"""The public procedure catalogue: what the department handles, how, in what time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from chassis.catalogue import DossierKind, OnlineLevel, Sector
from chassis.openapi import headers, problem_responses
from intake.api.deps import CatalogueDep
from intake.api.models import EXAMPLE_PROCEDURE, ProcedureDetail, ProcedureList, ProcedureSummary
from intake.problems import PROCEDURE_NOT_FOUND

__all__ = ["router"]

# The catalogue changes with a release, not by the minute; portals may cache it.
_CACHE = {"Cache-Control": "public, max-age=300"}
_CACHED = {"headers": headers("Cache-Control")}

router = APIRouter(prefix="/v1", tags=["catalogue"])


@router.get(
    "/procedures",
    response_model=ProcedureList,
    summary="Search the catalogue",
    description="Every procedure matching all the filters given, in catalogue order.",
    responses={200: _CACHED, **problem_responses()},
)
async def list_procedures(
    catalogue: CatalogueDep,
    sector: Sector | None = None,
    level: Annotated[OnlineLevel | None, Query(description="online level")] = None,
    kind: DossierKind | None = None,
    text: Annotated[
        str | None,
        Query(
            max_length=200,
            description="words of the code or name, in any order; diacritics optional",
            examples=["chat thai nguy hai"],
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
    description="What a portal needs to build the procedure's form and check it before "
    "submitting: the documents to attach and the form's JSON Schema (draft 2020-12).",
    responses={200: _CACHED, **problem_responses(PROCEDURE_NOT_FOUND)},
)
async def get_procedure(
    code: Annotated[str, Path(examples=[EXAMPLE_PROCEDURE])], catalogue: CatalogueDep
) -> JSONResponse:
    found = catalogue.get(code)
    if found is None:
        raise PROCEDURE_NOT_FOUND(f"no procedure {code!r} in the catalogue")
    body = ProcedureDetail.of(found, catalogue.agency(found.agency))
    return JSONResponse(body.model_dump(mode="json", by_alias=True), headers=_CACHE)
