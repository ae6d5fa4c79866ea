"""Behind a reverse proxy every request comes from the proxy's address. The citizens'
follow-up limit must then count each citizen under the address the proxy forwards, or
one busy citizen throttles all of them; and it must ignore X-Forwarded-For from a peer
that is not a trusted proxy, or anyone could pick a fresh bucket per request.

The app is driven through exactly what `chassis.service.serve` hands uvicorn (its
`Config`, loaded, so uvicorn's own proxy-headers middleware wraps the app), with intake's
real follow-up route and rate limiter.
"""

from __future__ import annotations

from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI

from chassis.problems import Problem, install_problem_handlers
from chassis.service import server_config
from chassis.settings import ServiceSettings
from intake.adapters.ratelimit import RateLimit
from intake.api import deps
from intake.api.follow_up import router

PROXY = "10.0.0.2"
CITIZEN_A = "203.0.113.7"
CITIZEN_B = "198.51.100.23"


class _NoSuchDossier:
    """The use case behind the route: every receipt code is unknown, so a request the
    limit lets through answers 404 and one it refuses answers 429."""

    async def status(self, receipt_code: str, second_factor: object) -> Any:
        raise Problem(404, "Not found", "no dossier with that receipt code and secret")


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    limit = RateLimit("follow-up-ip", "1/minute", "memory://")
    api = deps.IntakeApi(
        catalogue=cast(Any, None),
        submissions=cast(Any, None),
        follow_up=cast(Any, _NoSuchDossier()),
        identities=cast(Any, None),
        slips=cast(Any, None),
        per_client=cast(Any, None),
        per_ip=limit,
        documents=cast(Any, None),
    )
    deps.install(app, api)
    return app


def _served(forwarded_allow_ips: str | None) -> httpx.AsyncClient:
    settings = (
        ServiceSettings()
        if forwarded_allow_ips is None
        else ServiceSettings(forwarded_allow_ips=forwarded_allow_ips)
    )
    config = server_config(_app(), settings)
    config.load()
    transport = httpx.ASGITransport(app=config.loaded_app, client=(PROXY, 40_000))
    return httpx.AsyncClient(transport=transport, base_url="http://intake")


async def _ask(client: httpx.AsyncClient, forwarded_for: str) -> int:
    response = await client.get(
        "/v1/dossiers/MT-261126-7KQ4XP/status",
        headers={"X-Forwarded-For": forwarded_for, "X-Follow-Up-Secret": "s"},
    )
    return response.status_code


@pytest.mark.parametrize("trusted", [PROXY, "10.0.0.0/24", f"127.0.0.1, {PROXY}"])
async def test_behind_a_trusted_proxy_each_citizen_has_a_bucket(trusted: str) -> None:
    async with _served(trusted) as client:
        assert await _ask(client, CITIZEN_A) == 404
        # Another citizen through the same proxy is not held back by the first.
        assert await _ask(client, CITIZEN_B) == 404
        assert await _ask(client, CITIZEN_A) == 429


async def test_a_client_cannot_escape_its_bucket_by_prepending_addresses() -> None:
    # The proxy appends the address it saw; whatever the client wrote before it is not
    # the proxy's word, so the rightmost untrusted address is the one counted.
    async with _served(PROXY) as client:
        assert await _ask(client, CITIZEN_A) == 404
        assert await _ask(client, f"192.0.2.1, {CITIZEN_A}") == 429


async def test_an_untrusted_peer_is_counted_as_itself() -> None:
    # The default trusts only loopback, so a peer elsewhere is one client whatever it
    # forwards: the second citizen shares the first one's bucket.
    async with _served(None) as client:
        assert await _ask(client, CITIZEN_A) == 404
        assert await _ask(client, CITIZEN_B) == 429


def test_trusted_proxies_are_read_from_forwarded_allow_ips(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "172.30.80.1")
    assert ServiceSettings().forwarded_allow_ips == "172.30.80.1"
    config = server_config(FastAPI(), ServiceSettings())
    assert config.proxy_headers
    assert config.forwarded_allow_ips == "172.30.80.1"
