"""The services' OpenAPI documents, written to be read: named operations, the errors each
operation can really answer, the response headers it sets, and who may call it.

- Operation ids are the route functions' names in camelCase (``list_officer_queue`` →
  ``listOfficerQueue``), unique within a document.
- `problem_responses` builds a route's error responses from the problem kinds it raises
  (chassis.problems), each with its example and the headers that come with it; every
  operation also answers 422 (an undeclared query parameter is refused everywhere) and 500.
- The security requirement of an operation behind a role check lists, per admitted role,
  that role and the scopes it needs (OpenAPI 3.1 lets a bearer scheme's requirement name
  roles); the same is repeated as ``x-roles`` / ``x-scopes`` and in the description. It is
  read from the route's own dependencies (chassis.auth), so it cannot drift from the code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from chassis.auth import roles_admitted, scopes_needed
from chassis.problems import (
    AUTHENTICATION_NOT_CONFIGURED,
    AUTHENTICATION_UNAVAILABLE,
    BAD_REQUEST,
    BODY_TOO_LARGE,
    FORBIDDEN,
    INTERNAL_ERROR,
    INVALID_TOKEN,
    PROBLEM_JSON,
    UNAUTHENTICATED,
    VALIDATION_FAILED,
    ProblemKind,
    kind_for_status,
)

__all__ = [
    "AUTH_PROBLEMS",
    "BODY_PROBLEMS",
    "HEADERS",
    "SECURITY_SCHEME",
    "document_check",
    "headers",
    "install_openapi",
    "operation_id",
    "problem_responses",
]

SECURITY_SCHEME = "bearer"
PROBLEM_SCHEMA_REF = "#/components/schemas/Problem"

# What reading a request body can answer before the handler runs: bytes that are not
# text, or too many of them.
BODY_PROBLEMS: tuple[ProblemKind, ...] = (BAD_REQUEST, BODY_TOO_LARGE)

# What a role check can answer before the handler runs.
AUTH_PROBLEMS: tuple[ProblemKind, ...] = (
    UNAUTHENTICATED,
    INVALID_TOKEN,
    FORBIDDEN,
    AUTHENTICATION_UNAVAILABLE,
    AUTHENTICATION_NOT_CONFIGURED,
)

# Response headers the services set, documented once.
HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": 'The dossier\'s version as a strong entity tag (`"7"`); send it back '
        "in `If-Match`",
        "schema": {"type": "string", "pattern": '^"[0-9]+"$'},
        "example": '"7"',
    },
    "Location": {
        "description": "Where the citizen's status of the new dossier is read",
        "schema": {"type": "string", "format": "uri-reference"},
        "example": "/v1/dossiers/MT-261126-XVQKYC/status",
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request with the "
        "same `Idempotency-Key`; absent on a first answer",
        "schema": {"type": "string", "enum": ["true"]},
        "example": "true",
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 0},
        "example": 2,
    },
    "WWW-Authenticate": {
        "description": "The authentication scheme to use: `Bearer`",
        "schema": {"type": "string", "enum": ["Bearer"]},
        "example": "Bearer",
    },
    "Link": {
        "description": 'The next page, as `<path?query>; rel="next"` (RFC 8288); absent on '
        "the last page",
        "schema": {"type": "string"},
        "example": '</v1/audit/entries?limit=100&cursor=WyJlbnRyaWVzIiw0Ml0>; rel="next"',
    },
    "Cache-Control": {
        "description": "How long the answer may be kept",
        "schema": {"type": "string"},
        "example": "public, max-age=300",
    },
    "Content-Disposition": {
        "description": "The download's file name",
        "schema": {"type": "string"},
        "example": 'attachment; filename="audit-entries.ndjson"',
    },
}


def headers(*names: str) -> dict[str, dict[str, Any]]:
    """The documentation of response headers, by name (`HEADERS`)."""
    return {name: HEADERS[name] for name in names}


def operation_id(route: APIRoute) -> str:
    """The route function's name in camelCase: what client generators name the call."""
    head, *rest = route.name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def problem_responses(*problems: ProblemKind | int) -> dict[int | str, dict[str, Any]]:
    """The error responses of one operation: the kinds it (or its dependencies) can raise,
    grouped by status, each status with an example per kind and the headers they carry.
    422 (undeclared query parameters) and 500 are added to every operation. A bare status
    stands for its generic kind."""
    kinds = [p if isinstance(p, ProblemKind) else kind_for_status(p) for p in problems]
    kinds += [VALIDATION_FAILED, INTERNAL_ERROR]
    by_status: dict[int, list[ProblemKind]] = {}
    for kind in kinds:
        listed = by_status.setdefault(kind.status, [])
        if kind not in listed:
            listed.append(kind)
    responses: dict[int | str, dict[str, Any]] = {}
    for status in sorted(by_status):
        group = by_status[status]
        response: dict[str, Any] = {
            "description": "; ".join(f"`{k.code}`: {k.title}" for k in group),
            "content": {
                PROBLEM_JSON: {
                    "schema": {"$ref": PROBLEM_SCHEMA_REF},
                    "examples": {k.code: {"summary": k.title, "value": k.example()} for k in group},
                }
            },
        }
        carried = sorted({name for k in group for name in k.headers})
        if carried:
            response["headers"] = headers(*carried)
        responses[status] = response
    return responses


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `type` names the kind (docs/problems.md).",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        # The request's path as received, decoded: not always a valid URI reference.
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["pointer", "detail"],
                "properties": {"pointer": {"type": "string"}, "detail": {"type": "string"}},
            },
        },
    },
    "examples": [VALIDATION_FAILED.example("/v1/dossiers")],
}


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def access_of(route: Any) -> tuple[frozenset[str], frozenset[str]] | None:
    """(roles admitted, scopes needed) of a route (an APIRoute or its context in the app)
    behind a role check, else None."""
    roles: frozenset[str] | None = None
    scopes: frozenset[str] = frozenset()
    for dependant in _dependants(route.dependant):
        if dependant.call is None:
            continue
        admitted = roles_admitted(dependant.call)
        if admitted is not None:
            roles = admitted if roles is None else roles & admitted
        scopes |= scopes_needed(dependant.call) or frozenset()
    return None if roles is None else (roles, scopes)


def _access_text(access: tuple[frozenset[str], frozenset[str]] | None) -> str:
    if access is None:
        return "**Access:** public, no token needed."
    roles, scopes = access
    text = "**Access:** a bearer token with role " + " or ".join(f"`{r}`" for r in sorted(roles))
    if scopes:
        text += " and scope " + " and ".join(f"`{s}`" for s in sorted(scopes))
    return text + "."


def _apply_access(operation: dict[str, Any], route: Any) -> None:
    access = access_of(route)
    described = (operation.get("description") or "").strip()
    operation["description"] = f"{described}\n\n{_access_text(access)}".strip()
    if access is None:
        operation.pop("security", None)
        return
    roles, scopes = access
    operation["security"] = [{SECURITY_SCHEME: [role, *sorted(scopes)]} for role in sorted(roles)]
    operation["x-roles"] = sorted(roles)
    if scopes:
        operation["x-scopes"] = sorted(scopes)


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method in ("get", "put", "post", "delete", "patch"):
                yield path, method, operation


def document_check(schema: dict[str, Any]) -> list[str]:
    """What makes a document wrong however well it lints: an operation id repeated or not
    in camelCase, an operation without its 500 or its 422, a secured one that does not
    document 401 and 403, a public one that documents 403."""
    wrong: list[str] = []
    seen: dict[str, str] = {}
    for path, method, operation in _operations(schema):
        where = f"{method.upper()} {path}"
        op_id = operation.get("operationId", "")
        if not is_camel_case(op_id):
            wrong.append(f"{where}: operationId {op_id!r} is not camelCase")
        if op_id in seen:
            wrong.append(f"{where}: operationId {op_id} also names {seen[op_id]}")
        seen[op_id] = where
        responses = operation.get("responses", {})
        for status in ("422", "500"):
            if status not in responses:
                wrong.append(f"{where}: no {status} response")
        secured = bool(operation.get("security"))
        for status in ("401", "403"):
            documented = status in responses
            if secured and not documented:
                wrong.append(f"{where}: needs a token but documents no {status}")
        if not secured and "403" in responses:
            wrong.append(f"{where}: public but documents 403")
    return wrong


def install_openapi(app: FastAPI) -> None:
    """Finish the app's document as described above; a document that fails
    `document_check` is a programming error and stops its generation."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        # Routers are included lazily: their routes, with the prefixes and dependencies
        # of the routers above them, are the app's route contexts.
        routes: dict[tuple[str, str], Any] = {
            (str(context.path_format), method.lower()): context
            for context in iter_route_contexts(app.routes)
            if isinstance(context.original_route, APIRoute) and context.include_in_schema
            for method in context.methods or ()
        }
        for path, method, operation in _operations(schema):
            _apply_access(operation, routes[(path, method)])
        wrong = document_check(schema)
        if wrong:
            raise RuntimeError("the OpenAPI document is not right:\n" + "\n".join(wrong))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def described_tags(tags: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tags with the chassis's own (health) added after the service's."""
    health = {
        "name": "health",
        "description": "Liveness and readiness probes for the orchestrator; no token needed.",
    }
    return [*tags, health]


_CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")


def is_camel_case(name: str) -> bool:
    return bool(_CAMEL.fullmatch(name))
