"""The workbench: server-rendered pages for the desk, officers, leaders, auditors and
citizens, over the services' public APIs.

The composition root: one pooled HTTP client per service, the identity provider, the
templates and the routers. It keeps nothing of its own but the sessions, which travel
encrypted in a cookie, so any number of replicas can serve the same people.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

from cryptography.fernet import Fernet
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from starlette.exceptions import HTTPException as StarletteHTTPException

from chassis.logs import setup_logging
from chassis.service import serve
from chassis.telemetry import setup_tracing, shutdown_tracing
from workbench.adapters.api import ServiceProblem, ServiceUnavailable, pooled
from workbench.adapters.audit import AuditApi
from workbench.adapters.idp import IdentityProvider
from workbench.adapters.intake import IntakeApi
from workbench.adapters.processing import ProcessingApi
from workbench.api import auditor, auth, citizen, desk, leader, officer, pages
from workbench.api.web import (
    TEMPLATES_DIR,
    PageError,
    SignInRequired,
    Wiring,
    error_page,
    install,
    secure_request,
    session_cookie_name,
)
from workbench.settings import WorkbenchSettings

log = logging.getLogger("workbench")

STATIC_DIR = Path(__file__).resolve().parent / "static"

# No inline script or style anywhere, so the policy can forbid both.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _fernet(settings: WorkbenchSettings) -> Fernet:
    if settings.session_key is not None:
        return Fernet(settings.session_key.get_secret_value().encode())
    log.warning(
        "WORKBENCH_SESSION_KEY is not set: sessions are sealed with a key of this process "
        "alone and end when it stops; set one key for every replica"
    )
    return Fernet(Fernet.generate_key())


def _headers(response: Response, request: Request) -> None:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if not request.url.path.startswith("/static/"):
        # Pages carry personal data: never kept by the browser or a proxy.
        response.headers.setdefault("Cache-Control", "no-store")


def build_app(settings: WorkbenchSettings | None = None) -> FastAPI:
    settings = settings or WorkbenchSettings()
    setup_logging(
        settings.service_name, settings.log_level, settings.log_json, settings.instance_id()
    )
    setup_tracing(settings)
    timeout = settings.api_timeout_s
    clients = {
        "intake": pooled(settings.intake_url, timeout),
        "processing": pooled(settings.processing_url, timeout),
        "audit": pooled(settings.audit_url, timeout),
        "idp": pooled(settings.idp_url, timeout),
    }
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    templates.env.autoescape = True
    wiring = Wiring(
        settings=settings,
        fernet=_fernet(settings),
        templates=templates,
        idp=IdentityProvider(clients["idp"], settings.idp_url, settings.idp_client_id),
        intake=IntakeApi(clients["intake"]),
        processing=ProcessingApi(clients["processing"]),
        audit=AuditApi(clients["audit"]),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for client in clients.values():
                await client.aclose()
            shutdown_tracing()

    app = FastAPI(
        title="Workbench", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    install(app, wiring)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        _headers(response, request)
        # The benchmark reads the server's own time from here.
        elapsed_ms = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = f"app;dur={elapsed_ms:.1f}"
        return response

    @app.exception_handler(SignInRequired)
    async def to_sign_in(request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(
            "/auth/sign-in?" + urlencode({"next": exc.next_path}), status_code=303
        )

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> Response:
        return error_page(request, exc.status, exc.kind)

    @app.exception_handler(ServiceProblem)
    async def service_problem(request: Request, exc: ServiceProblem) -> Response:
        if exc.status == 401:
            # The token ran out or its key was dropped: sign in again.
            secure = secure_request(request, settings)
            response = RedirectResponse("/auth/sign-in", status_code=303)
            response.delete_cookie(session_cookie_name(secure), path="/")
            return response
        log.info("%s answered %s (%s)", exc.service, exc.status, exc.type_name)
        if exc.status == 403:
            return error_page(request, 403, "forbidden")
        if exc.status == 404:
            return error_page(request, 404, "not_found")
        if exc.status >= 500:
            return error_page(request, 503, "unavailable")
        return error_page(request, 400, "invalid")

    @app.exception_handler(ServiceUnavailable)
    async def unavailable(request: Request, exc: ServiceUnavailable) -> Response:
        log.warning("service unavailable: %s", exc)
        return error_page(request, 503, "unavailable")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_page(request, 404, "not_found")
        if exc.status_code == 405:
            return error_page(request, 405, "not_found")
        return error_page(request, exc.status_code, "invalid")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        return error_page(request, 400, "invalid")

    @app.get("/healthz", include_in_schema=False)
    async def check_liveness() -> JSONResponse:
        return JSONResponse({"status": "alive"})

    @app.get("/readyz", include_in_schema=False)
    async def check_readiness() -> JSONResponse:
        # Nothing of its own to wait for: the services answer for themselves, and a page
        # whose service is away says so.
        return JSONResponse({"status": "ready", "checks": {}})

    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    for router in (pages.router, auth.router, officer.router, leader.router):
        app.include_router(router)
    for router in (desk.router, citizen.router, auditor.router):
        app.include_router(router)
    # A server span per page, under the person's trace into the services (Zipkin); the
    # benchmark reads the pages' server time from them.
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls="healthz,readyz,static", exclude_spans=["receive", "send"]
    )
    return app


def run() -> None:
    settings = WorkbenchSettings()
    serve(build_app(settings), settings)


if __name__ == "__main__":
    run()
