"""Every request is counted under its route template and status and gets one access line,
including one the app fails on; probes and scrapes are counted but not logged."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI

from chassis import metrics
from chassis.problems import install_problem_handlers
from chassis.service import _HttpMetrics

SERVICE = "metrics-test"


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(_HttpMetrics, service=SERVICE, max_body_bytes=1000)

    @app.get("/v1/things/{code}")
    async def thing(code: str) -> dict[str, str]:
        return {"code": code}

    @app.get("/v1/broken")
    async def broken() -> dict[str, str]:
        raise RuntimeError("a defect")

    @app.get("/healthz")
    async def alive() -> dict[str, str]:
        return {"status": "alive"}

    return app


def _count(method: str, route: str, status: str) -> float:
    return metrics.HTTP_REQUESTS.labels(SERVICE, method, route, status)._value.get()


async def test_a_request_is_counted_and_logged_under_its_route_template(
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = _count("GET", "/v1/things/{code}", "200")
    transport = httpx.ASGITransport(app=_app())
    with caplog.at_level(logging.INFO, logger="hoso.access"):
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/v1/things/MT-123456")
    assert response.json() == {"code": "MT-123456"}
    assert _count("GET", "/v1/things/{code}", "200") == before + 1
    [line] = [r for r in caplog.records if r.name == "hoso.access"]
    # The template, never the raw path: a path can carry a receipt code.
    assert line.getMessage() == "GET /v1/things/{code} 200"
    assert "MT-123456" not in line.getMessage()
    assert line.fields["http.response.status_code"] == 200  # type: ignore[attr-defined]


async def test_a_request_the_app_fails_on_counts_as_a_500() -> None:
    before = _count("GET", "/v1/broken", "500")
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/v1/broken")
    assert response.status_code == 500
    assert _count("GET", "/v1/broken", "500") == before + 1


async def test_probes_are_counted_but_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    before = _count("GET", "/healthz", "200")
    transport = httpx.ASGITransport(app=_app())
    with caplog.at_level(logging.INFO, logger="hoso.access"):
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await client.get("/healthz")
    assert _count("GET", "/healthz", "200") == before + 1
    assert not [r for r in caplog.records if r.name == "hoso.access"]
