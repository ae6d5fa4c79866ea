"""What every service client shares: one pooled httpx client per service, the person's
token on every call, and the services' RFC 9457 problems turned into one exception the
pages map to their answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class ServiceProblem(Exception):
    """A service answered with an error: its status and its problem+json body."""

    service: str
    status: int
    problem: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.service}: {self.status} {self.problem.get('title', '')}"

    @property
    def type_name(self) -> str:
        """The last segment of the problem's ``type`` URI, e.g. ``version-mismatch``."""
        return str(self.problem.get("type", "")).rstrip("/").rsplit("/", 1)[-1]


class ServiceUnavailable(Exception):
    """The service could not be reached or timed out."""

    def __init__(self, service: str, cause: str) -> None:
        super().__init__(f"{service}: {cause}")
        self.service = service


@dataclass(frozen=True)
class Answer:
    body: Any
    headers: httpx.Headers


class ServiceApi:
    """One service's public API."""

    name = "service"

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        *,
        params: Any = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        try:
            response = await self.http.request(method, path, params=params, json=json, headers=sent)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(self.name, type(exc).__name__) from exc
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            if response.status_code in (502, 503, 504) and not problem:
                raise ServiceUnavailable(self.name, str(response.status_code))
            raise ServiceProblem(
                self.name, response.status_code, problem if isinstance(problem, dict) else {}
            )
        body = response.json() if response.content else None
        return Answer(body, response.headers)


def pooled(base_url: str, timeout_s: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout_s,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )
