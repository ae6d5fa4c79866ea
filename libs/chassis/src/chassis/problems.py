"""RFC 9457 problem details for every error a service returns.

Every problem has a kind: a stable ``type`` URI (``https://hoso.example/problems/<code>``),
the HTTP status and the title that go with it, and a sentence saying when it happens.
The kinds of every service are registered here as they are declared, so that
docs/problems.md and the OpenAPI documents are written from the same list the code
raises from. ``about:blank`` is never used: a problem raised without a kind gets the
generic kind of its status.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import ConnectionFailure
from starlette.exceptions import HTTPException as StarletteHTTPException

from chassis.mongo import store_unreachable

__all__ = [
    "ANY_STATUS",
    "AUTHENTICATION_NOT_CONFIGURED",
    "AUTHENTICATION_UNAVAILABLE",
    "BAD_REQUEST",
    "BODY_TOO_LARGE",
    "FORBIDDEN",
    "HTTP_ERROR",
    "HTTP_LAYER_KINDS",
    "INTERNAL_ERROR",
    "INVALID_TOKEN",
    "METHOD_NOT_ALLOWED",
    "NOT_FOUND",
    "PROBLEM_BASE",
    "PROBLEM_JSON",
    "SERVICE_UNAVAILABLE",
    "TOO_MANY_REQUESTS",
    "UNAUTHENTICATED",
    "VALIDATION_FAILED",
    "Problem",
    "ProblemKind",
    "ProblemResponse",
    "install_problem_handlers",
    "json_pointer",
    "kind_for_status",
    "problem_kind",
    "problem_kinds",
    "problem_response",
    "validation_problem",
]

PROBLEM_JSON = "application/problem+json"
# Where the kinds are named. The host is the project's own, never dereferenced by the
# services; docs/problems.md lists every code under it.
PROBLEM_BASE = "https://hoso.example/problems/"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProblemKind:
    """One kind of error: what a client tells apart by ``type``, never by ``detail``."""

    code: str
    status: int
    title: str
    when: str
    # Response headers that come with it (documented in OpenAPI with each response).
    headers: tuple[str, ...] = ()
    # Members beyond RFC 9457's that the body carries, for docs/problems.md.
    members: tuple[str, ...] = ()

    @property
    def type(self) -> str:
        return PROBLEM_BASE + self.code

    def __call__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> Problem:
        """A problem of this kind, to raise."""
        return Problem(
            self.status,
            self.title,
            detail,
            kind=self,
            errors=errors,
            headers=headers,
            **extensions,
        )

    def example(self, instance: str | None = None) -> dict[str, Any]:
        """A document of this kind as the OpenAPI documents show it."""
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.when,
        }
        if instance:
            body["instance"] = instance
        return body


_KINDS: dict[str, ProblemKind] = {}
# The status of the one kind that stands for any status the HTTP layer answers by itself.
ANY_STATUS = 0


def problem_kind(
    code: str,
    status: int,
    title: str,
    when: str,
    *,
    headers: Sequence[str] = (),
    members: Sequence[str] = (),
) -> ProblemKind:
    """Declare a kind. A code names one kind across all services: declaring it again with
    another status, title or meaning is a programming error."""
    if not code or code != code.lower() or not all(c.isalnum() or c == "-" for c in code):
        raise ValueError(f"problem code {code!r}: lower-case words joined by hyphens")
    if not (400 <= status <= 599 or status == ANY_STATUS):
        raise ValueError(f"problem {code!r}: status {status} is not an error")
    kind = ProblemKind(code, status, title, when, tuple(headers), tuple(members))
    known = _KINDS.setdefault(code, kind)
    if known != kind:
        raise ValueError(f"problem code {code!r} is already declared differently: {known}")
    return kind


def problem_kinds() -> list[ProblemKind]:
    """Every kind declared so far (import the services to have theirs), by status and
    code; the kind that stands for any status last."""
    return sorted(_KINDS.values(), key=lambda k: (k.status == ANY_STATUS, k.status, k.code))


# --------------------------------------------------------------------------- the chassis's kinds

BAD_REQUEST = problem_kind(
    "bad-request", 400, "Bad Request", "The HTTP layer could not read the request at all."
)
UNAUTHENTICATED = problem_kind(
    "unauthenticated",
    401,
    "Authentication required",
    "The operation needs a bearer token and the request has none.",
    headers=["WWW-Authenticate"],
)
INVALID_TOKEN = problem_kind(
    "invalid-token",
    401,
    "Invalid token",
    "The bearer token is malformed, expired, not yet valid, for another audience or "
    "issuer, or signed by a key the identity provider does not publish.",
    headers=["WWW-Authenticate"],
)
FORBIDDEN = problem_kind(
    "forbidden",
    403,
    "Forbidden",
    "The caller is authenticated but their roles, agency or scopes do not allow this "
    "operation; `detail` says what is needed.",
)
NOT_FOUND = problem_kind(
    "not-found", 404, "Not Found", "No operation is at this path (the HTTP layer's answer)."
)
METHOD_NOT_ALLOWED = problem_kind(
    "method-not-allowed",
    405,
    "Method Not Allowed",
    "The path exists, but not with this method (the HTTP layer's answer).",
)
BODY_TOO_LARGE = problem_kind(
    "body-too-large",
    413,
    "Body too large",
    "The request body is larger than the service accepts (declared or counted).",
)
VALIDATION_FAILED = problem_kind(
    "validation-failed",
    422,
    "Request is not valid",
    "A parameter, header or body field breaks a documented rule, or a query parameter "
    "the operation does not declare (or a repeated one) was sent; `errors` points at each "
    "(`/field` in the body, `query:/name`, `header:/Name`, `path:/name`). Nothing was changed.",
    members=["errors"],
)
TOO_MANY_REQUESTS = problem_kind(
    "too-many-requests",
    429,
    "Too many requests",
    "The caller went over a rate limit; retry after `Retry-After` seconds.",
    headers=["Retry-After"],
)
INTERNAL_ERROR = problem_kind(
    "internal-error",
    500,
    "Internal error",
    "An unexpected error; it was logged with the request's trace id. Nothing is promised "
    "about the request's effect: read the resource again before retrying.",
)
SERVICE_UNAVAILABLE = problem_kind(
    "service-unavailable",
    503,
    "Service unavailable",
    "The store or the broker the operation needs cannot be reached right now; nothing "
    "was recorded. Retry after `Retry-After` seconds.",
    headers=["Retry-After"],
)
AUTHENTICATION_UNAVAILABLE = problem_kind(
    "authentication-unavailable",
    503,
    "Authentication unavailable",
    "The identity provider's signing keys could not be loaded, so no token can be "
    "checked; retry after `Retry-After` seconds.",
    headers=["Retry-After"],
)
AUTHENTICATION_NOT_CONFIGURED = problem_kind(
    "authentication-not-configured",
    503,
    "Authentication not configured",
    "The service was started without a key set to check tokens against "
    "(`JWT_JWKS_URL` or `JWT_JWKS_FILE`).",
)
HTTP_ERROR = problem_kind(
    "http-error",
    ANY_STATUS,
    "(the status's reason phrase)",
    "Any other error status the HTTP layer answers with on its own; `status` and "
    "`title` say which.",
)

# Problems raised without a kind (the HTTP layer's own) get the generic one of their status.
_GENERIC: dict[int, ProblemKind] = {
    kind.status: kind
    for kind in (
        BAD_REQUEST,
        UNAUTHENTICATED,
        FORBIDDEN,
        NOT_FOUND,
        METHOD_NOT_ALLOWED,
        BODY_TOO_LARGE,
        VALIDATION_FAILED,
        TOO_MANY_REQUESTS,
        INTERNAL_ERROR,
        SERVICE_UNAVAILABLE,
    )
}


# What the HTTP layer answers by itself, before any route: no such path or method, a body
# it cannot read or that is too large.
HTTP_LAYER_KINDS = (BAD_REQUEST, NOT_FOUND, METHOD_NOT_ALLOWED, BODY_TOO_LARGE, HTTP_ERROR)


def kind_for_status(status: int) -> ProblemKind:
    return _GENERIC.get(status, HTTP_ERROR)


class Problem(Exception):
    """Raise anywhere in a request to answer with a problem document; prefer calling the
    kind (``VERSION_MISMATCH(detail)``), which fixes status, title and type together."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        kind: ProblemKind | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        if kind is not None and kind.status not in (status, ANY_STATUS):
            raise ValueError(f"a {kind.code} problem is a {kind.status}, not a {status}")
        self.status = status
        self.title = title
        self.detail = detail
        self.kind = kind or kind_for_status(status)
        self.errors = list(errors) if errors else None
        self.headers = dict(headers or {})
        self.extensions = extensions

    @property
    def type(self) -> str:
        return self.kind.type

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
    return VALIDATION_FAILED(
        f"{len(items)} field(s) are not valid, first: {first or '(body)'}", errors=items
    )


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
    async def _store_away(request: Request, exc: Exception) -> ProblemResponse:
        # The store restarting is not a defect: the client may simply try again. The
        # route template is logged, never the path, which can carry a receipt code.
        route = getattr(request.scope.get("route"), "path", "unmatched")
        log.warning("store unreachable on %s %s: %s", request.method, route, type(exc).__name__)
        return problem_response(
            SERVICE_UNAVAILABLE(
                "the store cannot be reached right now; retry later",
                headers={"Retry-After": "2"},
            ),
            request,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> ProblemResponse:
        if store_unreachable(exc):  # FerretDB's word for its PostgreSQL being away
            return await _store_away(request, exc)
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(INTERNAL_ERROR("the error was logged"), request)
