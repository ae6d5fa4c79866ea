"""The chassis refuses query parameters a route does not declare, wherever declared."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Query
from pydantic import BaseModel, Field

from chassis.problems import install_problem_handlers
from chassis.query import refuse_unknown_query


class Filters(BaseModel):
    status: str | None = None
    page_size: int = Field(default=10, alias="page-size")
    tags: list[str] = Field(default_factory=list)


def shared(agency: str | None = None) -> str | None:
    return agency


def caller(authorization: Annotated[str | None, Header()] = None) -> None:
    return None


def _app() -> FastAPI:
    app = FastAPI(dependencies=[Depends(refuse_unknown_query)])
    install_problem_handlers(app)
    router = APIRouter(prefix="/v1", dependencies=[Depends(caller)])

    @router.get("/items/{item_id}")
    async def items(
        item_id: str,
        filters: Annotated[Filters, Query()],
        agency: str | None = Depends(shared),
        sort: Annotated[str, Query(alias="order-by")] = "id",
        ids: Annotated[list[int] | None, Query()] = None,
    ) -> dict[str, object]:
        return {"item": item_id, "status": filters.status, "sort": sort, "ids": ids}

    @router.post("/items")
    async def create(body: dict[str, int]) -> dict[str, int]:
        return body

    app.include_router(router)
    return app


async def _get(url: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(url)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?status=open&page-size=5&tags=a&tags=b",
        "?agency=STNMT&order-by=name&ids=1&ids=2",
    ],
)
async def test_declared_parameters_pass(query: str) -> None:
    response = await _get(f"/v1/items/a{query}")
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("?$where=1", ["$where"]),
        ("?status[$ne]=x&status=open", ["status[$ne]"]),
        # A field's Python name is not its parameter name when it has an alias.
        ("?page_size=5&sort=name", ["page_size", "sort"]),
        # Path and header parameters are not query parameters.
        ("?item_id=b&authorization=x", ["item_id", "authorization"]),
        ("?a%2Fb=1", ["a/b"]),
    ],
)
async def test_unknown_parameters_are_a_422_problem_naming_them(
    query: str, names: list[str]
) -> None:
    response = await _get(f"/v1/items/a{query}")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "Request is not valid"
    assert problem["detail"] == "unknown query parameter(s): " + ", ".join(names)
    pointers = [e["pointer"] for e in problem["errors"]]
    assert pointers == ["query:/" + n.replace("/", "~1") for n in names]


async def test_a_scalar_given_twice_is_refused_a_list_is_not() -> None:
    twice = await _get("/v1/items/a?status=open&status=closed")
    assert twice.status_code == 422
    assert twice.json()["errors"] == [
        {"pointer": "query:/status", "detail": "given more than once"}
    ]
    assert (await _get("/v1/items/a?tags=a&tags=b&ids=1&ids=2")).status_code == 200


async def test_a_body_with_an_unknown_parameter_is_not_taken() -> None:
    seen: list[dict[str, int]] = []
    app = _app()

    @app.post("/record")
    async def record(body: dict[str, int]) -> None:
        seen.append(body)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        refused = await client.post("/record?dry_run=1", json={"a": 1})
        taken = await client.post("/record", json={"a": 2})
    assert refused.status_code == 422
    assert taken.status_code == 200
    assert seen == [{"a": 2}]
