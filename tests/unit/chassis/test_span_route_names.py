"""A request span is named after its route template, as OpenTelemetry's FastAPI
instrumentation names it, with the route matched once per app, method and path."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from chassis import service
from chassis.service import remembered_span_details


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/v1/things/{code}")
    async def thing(code: str) -> dict[str, str]:
        return {"code": code}

    @app.post("/v1/things")
    async def make() -> dict[str, str]:
        return {}

    return app


def _scope(app: FastAPI, method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "app": app, "method": method, "path": path, "root_path": ""}


class _Matches:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        matched = service._matched_span_details

        def counting(scope: Any) -> tuple[str, dict[str, str]]:
            self.count += 1
            return matched(scope)

        monkeypatch.setattr(service, "_matched_span_details", counting)


@pytest.mark.parametrize(
    ("method", "path", "name", "route"),
    [
        ("GET", "/v1/things/MT-1", "GET /v1/things/{code}", "/v1/things/{code}"),
        ("POST", "/v1/things", "POST /v1/things", "/v1/things"),
        ("GET", "/v1/nowhere", "GET", None),
    ],
    ids=["template", "plain", "unknown-path"],
)
def test_the_span_is_named_as_opentelemetry_names_it(
    method: str, path: str, name: str, route: str | None
) -> None:
    app = _app()
    expected = service._matched_span_details(_scope(app, method, path))
    assert remembered_span_details(_scope(app, method, path)) == expected
    assert remembered_span_details(_scope(app, method, path)) == expected
    assert expected[0] == name
    assert expected[1].get("http.route") == route


def test_each_path_is_matched_once(monkeypatch: pytest.MonkeyPatch) -> None:
    matches = _Matches(monkeypatch)
    app = _app()
    for _ in range(3):
        remembered_span_details(_scope(app, "POST", "/v1/things"))
    assert matches.count == 1
    remembered_span_details(_scope(app, "GET", "/v1/things"))  # another method
    remembered_span_details(_scope(_app(), "POST", "/v1/things"))  # another app
    assert matches.count == 3


def test_what_is_remembered_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    matches = _Matches(monkeypatch)
    monkeypatch.setattr(service, "_ROUTE_NAMES_HELD", 4)
    app = _app()
    for code in range(10):
        remembered_span_details(_scope(app, "GET", f"/v1/things/MT-{code}"))
    assert len(service._route_names[app]) == 4
    remembered_span_details(_scope(app, "GET", "/v1/things/MT-0"))  # long gone: matched again
    assert matches.count == 11


def test_a_caller_changing_the_attributes_does_not_change_what_is_remembered() -> None:
    app = _app()
    first = remembered_span_details(_scope(app, "POST", "/v1/things"))
    first[1]["http.route"] = "changed"
    assert remembered_span_details(_scope(app, "POST", "/v1/things"))[1] == {
        "http.route": "/v1/things"
    }
