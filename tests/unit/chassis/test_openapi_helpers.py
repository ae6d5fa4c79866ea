"""Problem kinds, the OpenAPI helpers and the shared pagination of the chassis."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.routing import APIRoute, iter_route_contexts

from chassis import pagination
from chassis.auth import Principal, Role, Scope, caller_with, needs_scopes
from chassis.openapi import (
    AUTH_PROBLEMS,
    access_of,
    document_check,
    install_openapi,
    operation_id,
    problem_responses,
)
from chassis.problems import (
    INTERNAL_ERROR,
    NOT_FOUND,
    PROBLEM_BASE,
    PROBLEM_JSON,
    SERVICE_UNAVAILABLE,
    VALIDATION_FAILED,
    Problem,
    install_problem_handlers,
    kind_for_status,
    problem_kind,
    problem_kinds,
)

# --------------------------------------------------------------------------- problem kinds
_REFUND_LATE_ARGS = ("test-refund-late", 409, "Refund too late", "Only in these tests.")
REFUND_LATE = problem_kind(*_REFUND_LATE_ARGS, headers=["Retry-After"])


def test_a_kind_fixes_type_status_and_title() -> None:
    problem = REFUND_LATE("after 30 days", headers={"Retry-After": "5"}, days=31)
    assert problem.type == PROBLEM_BASE + "test-refund-late"
    assert problem.document("/v1/refunds/1") == {
        "type": "https://hoso.example/problems/test-refund-late",
        "title": "Refund too late",
        "status": 409,
        "detail": "after 30 days",
        "instance": "/v1/refunds/1",
        "days": 31,
    }
    assert problem.headers == {"Retry-After": "5"}


def test_a_problem_without_kind_gets_the_generic_kind_of_its_status() -> None:
    assert Problem(404, "Not found").type == NOT_FOUND.type
    assert Problem(503, "Away").type == SERVICE_UNAVAILABLE.type
    # A status no generic kind stands for still gets a named type, never about:blank.
    odd = Problem(418, "I'm a teapot")
    assert odd.type == PROBLEM_BASE + "http-error"
    assert kind_for_status(418).code == "http-error"


def test_a_kind_refuses_another_status() -> None:
    with pytest.raises(ValueError, match="is a 409"):
        Problem(400, "Refund too late", kind=REFUND_LATE)


def test_a_code_names_one_kind() -> None:
    assert problem_kind(*_REFUND_LATE_ARGS, headers=["Retry-After"]) == REFUND_LATE
    with pytest.raises(ValueError, match="already declared differently"):
        problem_kind("test-refund-late", 410, "Refund too late", "Only in these tests.")
    with pytest.raises(ValueError, match="lower-case"):
        problem_kind("Refund_Late", 409, "x", "y")
    with pytest.raises(ValueError, match="not an error"):
        problem_kind("test-fine", 200, "x", "y")


def test_every_kind_is_listed_once_with_a_title_and_a_sentence() -> None:
    kinds = problem_kinds()
    codes = [k.code for k in kinds]
    assert len(codes) == len(set(codes))
    assert {"validation-failed", "internal-error", "forbidden"} <= set(codes)
    assert all(k.title and k.when.endswith(".") for k in kinds)
    assert codes[-1] == "http-error"


# --------------------------------------------------------------------------- responses


def test_problem_responses_group_kinds_by_status_with_examples_and_headers() -> None:
    responses = problem_responses(*AUTH_PROBLEMS, REFUND_LATE, 404)
    assert sorted(responses) == [401, 403, 404, 409, 422, 500, 503]
    unauthorised = responses[401]["content"][PROBLEM_JSON]
    assert unauthorised["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert sorted(unauthorised["examples"]) == ["invalid-token", "unauthenticated"]
    assert responses[401]["headers"]["WWW-Authenticate"]["schema"]["enum"] == ["Bearer"]
    assert sorted(responses[503]["content"][PROBLEM_JSON]["examples"]) == [
        "authentication-not-configured",
        "authentication-unavailable",
    ]
    assert "Retry-After" in responses[409]["headers"]
    assert "headers" not in responses[404]
    example = responses[500]["content"][PROBLEM_JSON]["examples"]["internal-error"]["value"]
    assert example["type"] == INTERNAL_ERROR.type
    assert example["status"] == 500


def test_every_operation_answers_422_and_500() -> None:
    assert sorted(problem_responses()) == [422, 500]


# --------------------------------------------------------------------------- documents


_staff = caller_with(Role.OFFICER, Role.LEADER)


@needs_scopes(Scope.IDENTITY_RESOLVE)
async def _cleared(principal: Annotated[Principal, Depends(_staff)]) -> Principal:
    return principal


Cleared = Annotated[Principal, Depends(_cleared)]


def _app() -> FastAPI:
    app = FastAPI(generate_unique_id_function=operation_id)
    install_problem_handlers(app)
    install_openapi(app)
    router = APIRouter(prefix="/v1", tags=["things"])

    @router.get("/things/{thing_id}", responses=problem_responses(*AUTH_PROBLEMS))
    async def get_secret_thing(thing_id: str, principal: Cleared) -> dict[str, str]:
        return {"thing": thing_id}

    @router.get("/things", summary="Things", responses=problem_responses())
    async def list_public_things(request: Request, response: Response) -> dict[str, Any]:
        pagination.link_next(request, response, pagination.encode_cursor("things", 7))
        return {}

    app.include_router(router)
    return app


def test_operations_are_named_in_camel_case_with_roles_and_scopes() -> None:
    document = _app().openapi()
    secret = document["paths"]["/v1/things/{thing_id}"]["get"]
    public = document["paths"]["/v1/things"]["get"]
    assert secret["operationId"] == "getSecretThing"
    assert public["operationId"] == "listPublicThings"
    assert secret["security"] == [
        {"bearer": ["leader", "identity:resolve"]},
        {"bearer": ["officer", "identity:resolve"]},
    ]
    assert secret["x-roles"] == ["leader", "officer"]
    assert secret["x-scopes"] == ["identity:resolve"]
    assert "role `leader` or `officer` and scope `identity:resolve`" in secret["description"]
    assert "security" not in public
    assert "public, no token needed" in public["description"]
    assert document["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status"]


def test_access_is_read_from_the_route_dependencies() -> None:
    routes = {
        context.name: context
        for context in iter_route_contexts(_app().routes)
        if isinstance(context.original_route, APIRoute)
    }
    assert access_of(routes["get_secret_thing"]) == (
        frozenset({"officer", "leader"}),
        frozenset({"identity:resolve"}),
    )
    assert access_of(routes["list_public_things"]) is None


def test_a_wrong_document_is_refused() -> None:
    ok: dict[str, Any] = {"responses": {"422": {}, "500": {}}}
    document = {
        "paths": {
            "/a": {"get": {**ok, "operationId": "getA"}},
            "/b": {"get": {**ok, "operationId": "getA"}},
            "/c": {"get": {"operationId": "get_c", "responses": {"422": {}}}},
            "/d": {"get": {**ok, "operationId": "getD", "security": [{"bearer": ["auditor"]}]}},
            "/e": {"get": {"operationId": "getE", "responses": {**ok["responses"], "403": {}}}},
        }
    }
    wrong = document_check(document)
    assert any("getA also names GET /a" in w for w in wrong)
    assert any("'get_c' is not camelCase" in w for w in wrong)
    assert any("GET /c: no 500" in w for w in wrong)
    assert any("GET /d: needs a token but documents no 401" in w for w in wrong)
    assert any("GET /e: public but documents 403" in w for w in wrong)
    assert len(wrong) == 6


# --------------------------------------------------------------------------- pagination


def test_a_cursor_round_trips_only_in_its_own_list() -> None:
    cursor = pagination.encode_cursor("entries", 42)
    assert pagination.decode_cursor(cursor, "entries") == [42]
    with pytest.raises(Problem) as other:
        pagination.decode_cursor(cursor, "checkpoints")
    assert other.value.status == 422
    assert other.value.kind is VALIDATION_FAILED
    assert other.value.errors == [
        {
            "pointer": "query:/cursor",
            "detail": "the cursor belongs to another list or another order",
        }
    ]


@pytest.mark.parametrize("cursor", ["!!!", "bm90IGpzb24", "e30", "WyJlbnRyaWVzIl0", "WzEsMl0"])
def test_foreign_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(Problem) as caught:
        pagination.decode_cursor(cursor, "entries")
    assert caught.value.status == 422
    assert caught.value.errors
    assert caught.value.errors[0]["pointer"] == "query:/cursor"


async def test_the_next_page_is_linked_with_the_same_query() -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/v1/things", params={"limit": "5", "cursor": "old"})
    cursor = pagination.encode_cursor("things", 7)
    assert response.headers["Link"] == f'</v1/things?limit=5&cursor={cursor}>; rel="next"'
