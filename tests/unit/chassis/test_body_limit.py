"""A body larger than the limit is refused with 413 whether or not it declares its size."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI

from chassis.problems import install_problem_handlers
from chassis.service import _BodyLimit, _HttpMetrics


def _app(limit: int) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(_BodyLimit, max_body_bytes=limit)
    app.add_middleware(_HttpMetrics, service="test", max_body_bytes=limit)

    @app.post("/echo")
    async def echo(body: dict[str, Any]) -> dict[str, int]:
        return {"keys": len(body)}

    return app


async def _chunks(total: int) -> AsyncIterator[bytes]:
    yield b'{"a": "'
    for _ in range(total // 1000):
        yield b"x" * 1000
    yield b'"}'


async def test_chunked_body_over_the_limit_is_a_413_problem() -> None:
    transport = httpx.ASGITransport(app=_app(10_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post(
            "/echo", content=_chunks(50_000), headers={"content-type": "application/json"}
        )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    transport = httpx.ASGITransport(app=_app(100))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post("/echo", json={"a": "x" * 500})
    assert response.status_code == 413


async def test_body_within_the_limit_passes() -> None:
    transport = httpx.ASGITransport(app=_app(10_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        chunked = await client.post(
            "/echo", content=_chunks(2_000), headers={"content-type": "application/json"}
        )
        plain = await client.post("/echo", json={"a": 1, "b": 2})
    assert chunked.status_code == 200
    assert plain.json() == {"keys": 2}
