"""Every operation of every service refuses a query parameter it does not declare.

The operations are read from the four services' own OpenAPI documents, so a route added
later is covered as soon as it exists. Each is asked with an operator-shaped parameter
(``$where``) and a bracketed one (``status[$ne]``) and must answer the same 422 problem
naming both, before anything else runs: without a token too (the refusal comes before
authentication), and with nothing written to any store or topic.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY
from pymongo import AsyncMongoClient

from tests.integration.chassis.inprocess import SERVICES, InProcess
from tests.support.infra import Infra

pytestmark = pytest.mark.integration

UNKNOWN = [("$where", "1"), ("status[$ne]", "x")]
PROBLEM = "application/problem+json"
METHODS = ("get", "post", "put", "patch", "delete")


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                # Any segment matches a path parameter's route; its value is checked later.
                concrete = path
                for parameter in item[method].get("parameters", []):
                    if parameter["in"] == "path":
                        concrete = concrete.replace("{" + parameter["name"] + "}", "x1")
                yield method.upper(), concrete


async def snapshot(infra: Infra, databases: dict[str, str]) -> dict[str, Any]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb, tz_aware=True)
    try:
        state: dict[str, Any] = {}
        for name, database in databases.items():
            db = client[database]
            for collection in sorted(await db.list_collection_names()):
                state[f"{name}.{collection}"] = await db[collection].find().to_list(None)
        return state
    finally:
        await client.close()


def produced() -> float:
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "hoso_events_produced"
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


async def test_every_operation_refuses_unknown_query_parameters(
    four_services: InProcess, infra: Infra
) -> None:
    matrix: list[tuple[str, str, str]] = []
    for name in SERVICES:
        async with four_services.client(name) as client:
            document = (await client.get("/openapi.json")).json()
        matrix += [(name, method, path) for method, path in operations(document)]
    # intake 9, processing 10, notification 7, audit 15 operations today.
    assert len(matrix) >= 35
    before = await snapshot(infra, four_services.databases)
    produced_before = produced()

    for name, method, path in matrix:
        async with four_services.client(name) as client:
            body = {} if method in ("POST", "PUT", "PATCH") else None
            response = await client.request(method, path, params=UNKNOWN, json=body)
        where = f"{name} {method} {path}"
        assert response.status_code == 422, (where, response.text)
        assert response.headers["content-type"] == PROBLEM, where
        problem = response.json()
        assert problem["status"] == 422
        assert problem["detail"] == "unknown query parameter(s): $where, status[$ne]", where
        assert problem["errors"] == [
            {"pointer": "query:/$where", "detail": "unknown query parameter"},
            {"pointer": "query:/status[$ne]", "detail": "unknown query parameter"},
        ], where

    assert await snapshot(infra, four_services.databases) == before
    assert produced() == produced_before

    # Without the unknown parameters the same calls are answered otherwise (a 401, a 404,
    # a body's 422…): the refusal above came from the parameters alone.
    for name, method, path in matrix:
        async with four_services.client(name) as client:
            body = {} if method in ("POST", "PUT", "PATCH") else None
            response = await client.request(method, path, json=body)
        problem = response.json() if response.headers["content-type"] == PROBLEM else {}
        details = [e.get("detail") for e in problem.get("errors", [])]
        assert "unknown query parameter" not in details, (name, method, path)


async def test_declared_parameters_are_still_taken(four_services: InProcess) -> None:
    async with four_services.client("intake") as client:
        found = await client.get("/v1/procedures", params={"text": "nước"})
        repeated = await client.get("/v1/procedures", params=[("text", "a"), ("text", "b")])
    assert found.status_code == 200, found.text
    assert found.json()
    assert repeated.status_code == 422
    assert repeated.json()["errors"] == [
        {"pointer": "query:/text", "detail": "given more than once"}
    ]
