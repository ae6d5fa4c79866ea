"""Wiring every service shares: start-up with retries, health, metrics, problems.

A service builds a `Runtime`, registers its consumer loops and background workers, and
hands it to `create_app`. Nothing here knows about dossiers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal

import opentelemetry.instrumentation.fastapi as otel_fastapi
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chassis import metrics
from chassis.kafka import ConsumerLoop, EventPublisher, backoff_delays, ensure_topics
from chassis.logs import setup_logging
from chassis.mongo import connect, ping
from chassis.openapi import (
    described_tags,
    install_openapi,
    operation_id,
    problem_responses,
)
from chassis.problems import (
    BODY_TOO_LARGE,
    install_problem_handlers,
    problem_response,
)
from chassis.query import refuse_unknown_query
from chassis.settings import ServiceSettings
from chassis.telemetry import setup_tracing, shutdown_tracing

log = logging.getLogger(__name__)

Worker = Callable[[], Awaitable[None]]

# How long a stopping service gives in-flight requests, then its consumers' batch in
# hand; a supervisor must wait longer than both together before it kills the process
# (docker-compose.yml's stop_grace_period).
GRACEFUL_SHUTDOWN_S = 20
CONSUMER_DRAIN_S = 15


class Runtime:
    """The service's connections and long-running tasks, started in the background so a
    missing broker or store makes the service not ready instead of crashing it."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        # Before the store client exists, so that its commands are traced.
        setup_tracing(settings)
        self.publisher = EventPublisher(settings)
        self.mongo_client, self.db = connect(settings)
        self.consumers: list[ConsumerLoop] = []
        self._workers: list[tuple[str, Worker]] = []
        self._startup_hooks: list[Worker] = []
        self._shutdown_hooks: list[Worker] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._kafka_ready = False
        self._store_set_up = asyncio.Event()

    def add_consumer(self, loop: ConsumerLoop) -> None:
        self.consumers.append(loop)

    def add_worker(self, name: str, worker: Worker) -> None:
        """A coroutine that runs until cancelled (outbox relay, deadline scan, retries)."""
        self._workers.append((name, worker))

    def on_startup(self, hook: Worker) -> None:
        """Store set-up (indexes) run once the store answers; retried until it succeeds."""
        self._startup_hooks.append(hook)

    def on_shutdown(self, hook: Worker) -> None:
        """Closes what the service opened itself (HTTP clients); runs after consumers and
        workers have stopped, so nothing still uses it."""
        self._shutdown_hooks.append(hook)

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._connect_kafka(), name="kafka-connect"))
        self._tasks.append(asyncio.create_task(self._run_startup_hooks(), name="store-setup"))

    async def _connect_kafka(self) -> None:
        delay = backoff_delays(0.5, 10.0)
        attempt = 0
        while True:
            attempt += 1
            try:
                await ensure_topics(self.settings)
                await self.publisher.start()
                break
            except Exception as exc:
                log.warning("Kafka not reachable yet (%s); retrying", type(exc).__name__)
                await self.publisher.stop()
                await asyncio.sleep(delay(attempt))
        self._kafka_ready = True
        for consumer in self.consumers:
            self._tasks.append(
                asyncio.create_task(consumer.run(), name=f"consumer-{consumer.group}")
            )
        await self._store_set_up.wait()
        for name, worker in self._workers:
            self._tasks.append(asyncio.create_task(self._supervise(name, worker), name=name))

    async def _run_startup_hooks(self) -> None:
        delay = backoff_delays(0.5, 10.0)
        attempt = 0
        while True:
            attempt += 1
            try:
                for hook in self._startup_hooks:
                    await hook()
                break
            except Exception as exc:
                log.warning("store set-up failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay(attempt))
        self._store_set_up.set()

    async def _supervise(self, name: str, worker: Worker) -> None:
        delay = backoff_delays(0.5, 10.0)
        attempt = 0
        while True:
            try:
                await worker()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                attempt += 1
                log.exception("worker %s failed; restarting", name)
                await asyncio.sleep(delay(attempt))

    async def readiness(self) -> dict[str, bool]:
        checks = {
            "kafka": self._kafka_ready and self.publisher.started,
            "store": await ping(self.db) and self._store_set_up.is_set(),
        }
        if self.consumers:
            checks["consumers"] = all(c.running for c in self.consumers)
        return checks

    async def stop(self) -> None:
        # Consumers first: they finish the batch in hand and commit before we cut Kafka.
        for consumer in self.consumers:
            consumer.stop()
        consumer_tasks = [t for t in self._tasks if t.get_name().startswith("consumer-")]
        if consumer_tasks:
            await asyncio.wait(consumer_tasks, timeout=CONSUMER_DRAIN_S)
        for task in self._tasks:
            if not task.done():
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for hook in self._shutdown_hooks:
            with contextlib.suppress(Exception):
                await hook()
        await self.publisher.stop()
        await self.mongo_client.close()


# Probes and scrapes arrive every few seconds; a line for each would bury the requests.
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
# One line per handled request, written inside the request's span so it carries the
# trace id (uvicorn's own access log is off: it knows no trace and logs raw paths).
_access = logging.getLogger("hoso.access")


class _BodyLimit:
    """Counts the bytes of a body sent without Content-Length (chunked), which the
    header check in `_HttpMetrics` cannot see."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, body_limits: Mapping[str, int] | None = None
    ) -> None:
        self._app = app
        self._max_body = max_body_bytes
        self._limits = dict(body_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        seen = 0
        limit = self._limits.get(scope["path"], self._max_body)

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # An HTTPException, which FastAPI lets through its body parsing (any
                    # other error there becomes a 400); answered as `body-too-large`.
                    raise StarletteHTTPException(413, f"Body too large: at most {limit} bytes")
            return message

        await self._app(scope, limited_receive, send)


class _HttpMetrics:
    """Counts and times every request, writes its access line, and refuses a declared
    body over the limit before it is read.

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` runs every request
    through a task group and memory streams, a cost each request paid for nothing here.
    """

    def __init__(
        self,
        app: ASGIApp,
        service: str,
        max_body_bytes: int,
        body_limits: Mapping[str, int] | None = None,
    ) -> None:
        self._app = app
        self._service = service
        self._max_body = max_body_bytes
        self._limits = dict(body_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        limit = self._limits.get(scope["path"], self._max_body)
        # isdigit() alone admits "²" or "٣", which int() then reads or fails on.
        if length is not None and (
            not (length.isascii() and length.isdigit()) or int(length) > limit
        ):
            refusal = problem_response(BODY_TOO_LARGE(f"at most {limit} bytes"), Request(scope))
            await refusal(scope, receive, send)
            return
        status = 500  # what the client gets if the app fails before it answers
        started = time.perf_counter()

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, send_and_note)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        method = scope["method"]
        route = scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.HTTP_REQUESTS.labels(self._service, method, path, str(status)).inc()
        metrics.HTTP_DURATION.labels(self._service, method, path).observe(elapsed)
        if path not in _QUIET_ROUTES:
            # The route template, never the raw path: a path can carry a receipt code.
            _access.info(
                "%s %s %d",
                method,
                path,
                status,
                extra={
                    "fields": {
                        "http.request.method": method,
                        "http.route": path,
                        "http.response.status_code": status,
                        "duration_ms": round(elapsed * 1000, 1),
                    }
                },
            )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class Liveness(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "alive"}]})

    status: Literal["alive"]


class Readiness(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"status": "ready", "checks": {"kafka": True, "store": True, "consumers": True}}
            ]
        }
    )

    status: Literal["ready", "not ready"]
    checks: dict[str, bool] = Field(
        description="Each dependency: `kafka`, `store` (reachable and set up) and, for a "
        "service that consumes, `consumers` (every consumer loop running)"
    )


def create_app(
    runtime: Runtime,
    *,
    title: str,
    description: str,
    routers: list[APIRouter],
    tags: Sequence[dict[str, Any]] = (),
    max_body_bytes: int = 1_000_000,
    body_limits: Mapping[str, int] | None = None,
) -> FastAPI:
    """The service's app; ``tags`` describe its routers' tags (OpenAPI ``tags``);
    ``body_limits`` raises or lowers ``max_body_bytes`` for the routes at these exact
    paths (a file upload that streams its body)."""
    settings = runtime.settings
    setup_logging(
        settings.service_name, settings.log_level, settings.log_json, settings.instance_id()
    )
    setup_tracing(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()
            shutdown_tracing()

    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        openapi_tags=described_tags(tags),
        generate_unique_id_function=operation_id,
        # First on every route, before authentication: a query a route does not declare is
        # refused instead of silently ignored (chassis.query).
        dependencies=[Depends(refuse_unknown_query)],
    )
    app.state.runtime = runtime
    install_problem_handlers(app)
    install_openapi(app)
    app.add_middleware(_BodyLimit, max_body_bytes=max_body_bytes, body_limits=body_limits)
    app.add_middleware(
        _HttpMetrics,
        service=settings.service_name,
        max_body_bytes=max_body_bytes,
        body_limits=body_limits,
    )

    health = APIRouter(tags=["health"])

    @health.get(
        "/healthz",
        summary="The process is alive",
        response_model=Liveness,
        responses=problem_responses(),
    )
    async def check_liveness() -> dict[str, str]:
        return {"status": "alive"}

    @health.get(
        "/readyz",
        summary="Kafka and the store are reachable",
        response_model=Readiness,
        responses={
            **problem_responses(),
            503: {
                "model": Readiness,
                "description": "Not ready: a dependency is not reachable yet (same body)",
                "content": {
                    "application/json": {
                        "example": {
                            "status": "not ready",
                            "checks": {"kafka": True, "store": False, "consumers": True},
                        }
                    }
                },
            },
        },
    )
    async def check_readiness() -> JSONResponse:
        checks = await runtime.readiness()
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @health.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(health)
    for router in routers:
        app.include_router(router)
    # The ASGI "http send/receive" spans only repeat the request span's timing.
    otel_fastapi._get_default_span_details = remembered_span_details
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls="healthz,readyz,metrics", exclude_spans=["receive", "send"]
    )
    return app


# A request span's name and http.route: OpenTelemetry's FastAPI instrumentation finds the
# route by matching the path against every route of the app in turn, on every request
# (a tenth of intake's CPU per submission under a burst). The answer depends only on the
# app, the method and the path, so it is remembered for a bounded number of paths (a path
# with a receipt code in it is a path of its own), least recently used first out.
_ROUTE_NAMES_HELD = 1024
_SpanDetails = tuple[str, dict[str, str]]
_route_names: weakref.WeakKeyDictionary[Any, OrderedDict[tuple[str, ...], _SpanDetails]] = (
    weakref.WeakKeyDictionary()
)
_matched_span_details = otel_fastapi._get_default_span_details


def remembered_span_details(scope: Scope) -> _SpanDetails:
    """What OpenTelemetry's own span details give, matched once per app, method and path."""
    held = _route_names.setdefault(scope["app"], OrderedDict())
    key = (
        scope.get("type", ""),
        scope.get("method", ""),
        scope.get("root_path", ""),
        scope.get("path", ""),
    )
    found = held.get(key)
    if found is None:
        found = _matched_span_details(scope)
        held[key] = found
        if len(held) > _ROUTE_NAMES_HELD:
            held.popitem(last=False)
    else:
        held.move_to_end(key)
    name, attributes = found
    return name, dict(attributes)


def server_config(app: FastAPI, settings: ServiceSettings) -> uvicorn.Config:
    """uvicorn's configuration for the service: behind the reverse proxies that
    ``forwarded_allow_ips`` names, the client address is the one they forward."""
    return uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    server = uvicorn.Server(server_config(app, settings))
    server.run()
    if not server.started:
        # What uvicorn.run does: a port already taken is a failed start, not a clean exit.
        raise SystemExit(3)
