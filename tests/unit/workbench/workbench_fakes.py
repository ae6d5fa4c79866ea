"""The workbench over fake services: each service's API answered in memory by an
``httpx.MockTransport`` handler, so the pages' own logic is tested without a process."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from workbench.adapters.audit import AuditApi
from workbench.adapters.intake import IntakeApi
from workbench.api.web import seal
from workbench.domain.session import Session
from workbench.main import build_app
from workbench.settings import WorkbenchSettings

Handler = Callable[[httpx.Request], httpx.Response]


def procedure_detail(code: str = "MT-004") -> dict[str, Any]:
    """A procedure as intake's catalogue answers it, from the shared catalogue."""
    from chassis.catalogue import load_default_catalogue

    catalogue = load_default_catalogue()
    procedure = catalogue.get(code)
    agency = catalogue.agency(procedure.agency)
    return {
        "code": procedure.code,
        "name_vi": procedure.name_vi,
        "name_en": procedure.name_en,
        "kind": procedure.kind.value,
        "agency": {"code": agency.code, "name_vi": agency.name_vi, "name_en": agency.name_en},
        "required_documents": [d.model_dump() for d in procedure.required_documents],
        "form_schema": procedure.form_schema,
    }


@dataclass
class FakeService:
    """Routes of one fake service: ``(method, path regex) -> handler``; every request
    kept."""

    routes: list[tuple[str, re.Pattern[str], Handler]] = field(default_factory=list)
    seen: list[httpx.Request] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)

    def on(self, method: str, path: str, handler: Handler) -> None:
        self.routes.insert(0, (method, re.compile(f"^{path}$"), handler))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        self.bodies.append(request.read())
        for method, pattern, handler in self.routes:
            if method == request.method and pattern.match(request.url.path):
                return handler(request)
        return httpx.Response(404, json={"type": "about:blank/not-found", "title": "Not Found"})


def problem(
    status: int, kind: str, detail: str, errors: list[dict[str, str]] | None = None
) -> httpx.Response:
    body: dict[str, Any] = {
        "type": f"https://hoso.example/problems/{kind}",
        "title": kind,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return httpx.Response(status, json=body, headers={"Content-Type": "application/problem+json"})


@dataclass
class Bench:
    client: TestClient
    intake: FakeService
    audit: FakeService
    idp: FakeService
    key: str

    def sign_in(self, *roles: str, agency: str | None = None) -> Session:
        """A live session cookie for someone with ``roles``."""
        session = Session(
            token="token-" + "-".join(roles),
            subject="subject-1",
            roles=frozenset(roles),
            agency=agency,
            csrf="csrf-token-of-the-session",
            expires_at=time.time() + 3600,
        )
        wiring = self.client.app.state.wiring  # type: ignore[attr-defined]
        self.client.cookies.set("hoso_session", seal(wiring, session.to_record()))
        return session


def bench(**settings: Any) -> Bench:
    key = Fernet.generate_key().decode()
    app = build_app(
        WorkbenchSettings(session_key=key, log_json=False, **settings)  # type: ignore[arg-type]
    )
    intake, audit, idp = FakeService(), FakeService(), FakeService()
    wiring = app.state.wiring
    wiring.intake = IntakeApi(
        httpx.AsyncClient(transport=httpx.MockTransport(intake), base_url="http://intake")
    )
    wiring.audit = AuditApi(
        httpx.AsyncClient(transport=httpx.MockTransport(audit), base_url="http://audit")
    )
    wiring.idp.http = httpx.AsyncClient(transport=httpx.MockTransport(idp), base_url="http://idp")
    client = TestClient(app, base_url="http://testserver", follow_redirects=False)
    return Bench(client, intake, audit, idp, key)


def as_json(request: httpx.Request) -> Any:
    return json.loads(request.read())


__all__ = ["Bench", "FakeService", "as_json", "bench", "problem", "procedure_detail"]
