"""The public procedure catalogue: what the department handles, how, in what time, and
which version of the catalogue is in force."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from chassis.catalogue import Catalogue, Department, DossierKind, OnlineLevel, Sector
from chassis.openapi import headers, problem_responses
from intake.api.deps import CatalogueDep
from intake.api.models import (
    EXAMPLE_PROCEDURE,
    AgencyOut,
    ProcedureDetail,
    ProcedureList,
    ProcedureSummary,
)
from intake.problems import PROCEDURE_NOT_FOUND

__all__ = ["router"]

# The province changes the catalogue a few times a year, without a release; a minute of
# caching keeps portals off the service and a new version visible soon enough.
_CACHE = {"Cache-Control": "public, max-age=60"}
_CACHED = {"headers": headers("Cache-Control")}

router = APIRouter(prefix="/v1", tags=["catalogue"])


class CatalogueVersionOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "version": "2026.12.1",
                    "version_id": "2026.12.1+288b01dbbefb",
                    "sha256": "288b01dbbefb" + "0" * 52,
                    "published_on": "2026-12-07",
                    "department": {
                        "name_vi": "Sở Nông nghiệp và Môi trường",
                        "name_en": "Department of Agriculture and Environment",
                        "legal_basis": "Nghị định 118/2025/NĐ-CP; Nghị định 42/2022/NĐ-CP",
                    },
                    "procedure_count": 26,
                    "agencies": [
                        {
                            "code": "STNMT-MT",
                            "name_vi": "Chi cục Bảo vệ môi trường",
                            "name_en": "Environmental Protection Sub-Department",
                        }
                    ],
                    "procedures_url": "/v1/procedures",
                }
            ]
        }
    )

    version: str
    # What each dossier records as the version it was lodged under.
    version_id: str
    sha256: str
    published_on: date | None
    department: Department
    procedure_count: int
    agencies: list[AgencyOut]
    procedures_url: str

    @classmethod
    def of(cls, catalogue: Catalogue) -> CatalogueVersionOut:
        return cls(
            version=catalogue.version,
            version_id=catalogue.version_id,
            sha256=catalogue.sha256,
            published_on=catalogue.published_on,
            department=catalogue.department,
            procedure_count=len(catalogue.procedures),
            agencies=[AgencyOut.of(agency) for agency in catalogue.agencies.values()],
            procedures_url="/v1/procedures",
        )


@router.get(
    "/catalogue",
    response_model=CatalogueVersionOut,
    summary="The catalogue version in force",
    description="The version the province published, its digest and date, the department "
    "and its units. A dossier records the `version_id` it was lodged under.",
    responses={200: _CACHED, **problem_responses()},
)
async def get_catalogue(catalogue: CatalogueDep) -> JSONResponse:
    # One version for the whole answer, even if a new one comes into force meanwhile.
    body = CatalogueVersionOut.of(catalogue.at(None))
    return JSONResponse(body.model_dump(mode="json"), headers=_CACHE)


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
    catalogue = catalogue.at(None)  # one version for the whole answer
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
    catalogue = catalogue.at(None)  # one version for the whole answer
    found = catalogue.get(code)
    if found is None:
        raise PROCEDURE_NOT_FOUND(f"no procedure {code!r} in the catalogue")
    body = ProcedureDetail.of(found, catalogue.agency(found.agency))
    return JSONResponse(body.model_dump(mode="json", by_alias=True), headers=_CACHE)
