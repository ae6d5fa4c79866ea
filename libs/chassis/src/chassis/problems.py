"""RFC 9457 problem details for every error a service returns."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import ConnectionFailure
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)


class Problem(Exception):
    """Raise anywhere in a request to answer with a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        type_: str = "about:blank",
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.errors = list(errors) if errors else None
        self.headers = dict(headers or {})
        self.extensions = extensions

    def document(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extensions)
        return body


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_JSON


def problem_response(problem: Problem, request: Request | None = None) -> ProblemResponse:
    return ProblemResponse(
        problem.document(request.url.path if request else None),
        status_code=problem.status,
        headers=problem.headers,
    )


def json_pointer(location: Sequence[Any]) -> str:
    """FastAPI's error location ("body", "applicant", "phone") as an RFC 6901 pointer."""
    parts = list(location)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        source, parts = parts[0], parts[1:]
    else:
        source = "body"
    escaped = [str(p).replace("~", "~0").replace("/", "~1") for p in parts]
    pointer = "/" + "/".join(escaped) if escaped else ""
    return pointer if source == "body" else f"{source}:{pointer or '/'}"


def validation_problem(errors: Sequence[Mapping[str, Any]]) -> Problem:
    items = [
        {"pointer": json_pointer(err.get("loc", ())), "detail": str(err.get("msg", "invalid"))}
        for err in errors
    ]
    first = items[0]["pointer"] if items else ""
    return Problem(
        422,
        "Request is not valid",
        f"{len(items)} field(s) are not valid, first: {first or '(body)'}",
        errors=items,
    )


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {
        "description": title,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for code, title in {
        400: "Bad request",
        401: "Authentication required",
        403: "Forbidden",
        404: "Not found",
        409: "Conflict",
        412: "Precondition failed",
        413: "Body too large",
        415: "Unsupported media type",
        422: "Validation failed",
        429: "Too many requests",
        503: "Unavailable",
    }.items()
}


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> ProblemResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> ProblemResponse:
        return problem_response(validation_problem(exc.errors()), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> ProblemResponse:
        return problem_response(
            Problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None)),
            request,
        )

    @app.exception_handler(ConnectionFailure)
    async def _store_away(request: Request, exc: ConnectionFailure) -> ProblemResponse:
        # The store restarting is not a defect: the client may simply try again. The
        # route template is logged, never the path, which can carry a receipt code.
        route = getattr(request.scope.get("route"), "path", "unmatched")
        log.warning("store unreachable on %s %s: %s", request.method, route, type(exc).__name__)
        return problem_response(
            Problem(
                503,
                "Service unavailable",
                "the store cannot be reached right now; retry later",
                headers={"Retry-After": "2"},
            ),
            request,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> ProblemResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(Problem(500, "Internal error", "the error was logged"), request)

    _add_problem_schema(app)


def _add_problem_schema(app: FastAPI) -> None:
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = {
            "type": "object",
            "required": ["type", "title", "status"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "instance": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"pointer": {"type": "string"}, "detail": {"type": "string"}},
                    },
                },
            },
        }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
