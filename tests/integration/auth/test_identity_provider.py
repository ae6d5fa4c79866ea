"""The local identity provider: what each client may have, and key rotation as a running
service sees it (no restart, the old key honoured for its grace period, then refused)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import httpx
import jwt
import pytest

from tests.integration.auth.conftest import ROOT, Idp
from tests.integration.processing.processing_harness import processing_process


def _claims(token: str) -> dict[str, object]:
    return jwt.decode(token, options={"verify_signature": False})


def _kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def test_discovery_names_the_keys_and_the_token_endpoint(idp: Idp) -> None:
    discovery = httpx.get(f"{idp.url}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == idp.url
    assert discovery["jwks_uri"] == idp.jwks_url
    assert discovery["token_endpoint"] == f"{idp.url}/token"
    [key] = httpx.get(idp.jwks_url).json()["keys"]
    assert key["kty"] == "OKP"
    assert key["crv"] == "Ed25519"
    assert "d" not in key


def test_a_client_gets_only_the_roles_its_registration_grants(idp: Idp) -> None:
    granted = idp.token("status", role="auditor")
    assert granted.status_code == 200, granted.text
    assert granted.headers["cache-control"] == "no-store"
    claims = _claims(granted.json()["access_token"])
    assert claims["roles"] == ["auditor"]
    assert claims["sub"] == "hoso-status"
    assert claims["iss"] == idp.url
    assert claims["aud"] == "hoso"
    assert int(claims["exp"]) - int(claims["iat"]) == 15 * 60  # type: ignore[call-overload]
    for form in (
        {"role": "operator"},
        {"role": "auditor officer"},
        {"role": "auditor", "scope": "audit:pii"},
        {"role": "auditor", "agency": "STNMT-MT"},
    ):
        refused = idp.token("status", **form)
        assert refused.status_code == 400, (form, refused.text)
        assert refused.json()["error"] == "invalid_scope", form
    impersonating = idp.token("status", role="auditor", sub="auditor-1")
    assert impersonating.status_code == 400
    assert idp.token("screenshot", role="auditor").status_code == 400
    assert idp.token("status", role="auditor", expires_in="86400").status_code == 400


def test_client_authentication_and_grant_type_are_checked(idp: Idp) -> None:
    client = idp.credentials("status")
    wrong = httpx.post(
        client.token_endpoint,
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, client.client_secret + "x"),
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    assert wrong.headers["www-authenticate"].startswith("Basic")
    anonymous = httpx.post(client.token_endpoint, data={"grant_type": "client_credentials"})
    assert anonymous.status_code == 401
    password = idp.token("status", grant_type="password")
    assert password.status_code == 400
    assert password.json()["error"] == "unsupported_grant_type"
    not_developer = httpx.post(
        f"{idp.url}/rotate", auth=(client.client_id, client.client_secret), data={}
    )
    assert not_developer.status_code == 403


def test_the_developer_client_may_ask_for_anything(idp: Idp) -> None:
    response = idp.token(
        role="officer leader",
        agency="STNMT-TTR",
        sub="inspector-7",
        scope="identity:resolve audit:pii",
    )
    assert response.status_code == 200, response.text
    claims = _claims(response.json()["access_token"])
    assert claims["roles"] == ["officer", "leader"]
    assert claims["agency"] == "STNMT-TTR"
    assert claims["sub"] == "inspector-7"
    assert claims["scope"] == "identity:resolve audit:pii"


def test_hoso_token_and_the_status_command_are_clients_of_the_provider(idp: Idp) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOSO_IDP_CLIENT_FILE": str(idp.directory / "developer.json"),
    }
    argv = [sys.executable, "-c", "from chassis.auth import token_cli; token_cli()"]
    minted = subprocess.run(
        [*argv, "--role", "officer", "--agency", "STNMT-MT", "--sub", "officer-1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    claims = _claims(minted.stdout.strip())
    assert claims["sub"] == "officer-1"
    assert claims["agency"] == "STNMT-MT"
    assert _kid(minted.stdout.strip()) in {k["kid"] for k in httpx.get(idp.jwks_url).json()["keys"]}

    status = _status_module()
    client_file = idp.directory / "status.json"
    settings = status.Settings(
        services={}, kafka="", topic_prefix="", token=None, client_file=client_file
    )
    auditor = _claims(settings.auditor_token())
    assert auditor["roles"] == ["auditor"]
    assert auditor["sub"] == "hoso-status"
    missing = status.Settings(
        services={}, kafka="", topic_prefix="", token=None, client_file=Path("/nonexistent")
    )
    with pytest.raises(LookupError, match="HOSO_STATUS_TOKEN"):
        missing.auditor_token()


def _status_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hoso_status", ROOT / "deploy" / "status.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["hoso_status"] = module
    spec.loader.exec_module(module)
    return module


async def test_rotation_reaches_a_running_service_without_a_restart(
    idp: Idp, base_env: dict[str, str], run_id: str, tmp_path: Path
) -> None:
    cooldown_s, cache_s, grace_s = 0.5, 1.0, 4.0
    env = {k: v for k, v in base_env.items() if k != "JWT_JWKS_FILE"}
    process = processing_process(
        env,
        run_id,
        "auth-rotation",
        tmp_path,
        {
            "JWT_JWKS_URL": idp.jwks_url,
            "JWT_ISSUER": idp.url,
            "JWT_JWKS_COOLDOWN_S": str(cooldown_s),
            "JWT_JWKS_CACHE_S": str(cache_s),
        },
    )
    process.start()

    def officer() -> str:
        response = idp.token(role="officer", agency="STNMT-MT", sub="officer-rot")
        response.raise_for_status()
        return str(response.json()["access_token"])

    async def status(client: httpx.AsyncClient, token: str) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return (await client.get("/v1/officer/queue", headers=headers)).status_code

    async def published(client: httpx.AsyncClient) -> set[str]:
        return {k["kid"] for k in (await client.get(idp.jwks_url)).json()["keys"]}

    try:
        await asyncio.to_thread(process.wait_ready)
        async with httpx.AsyncClient(base_url=process.url, timeout=10) as client:
            old = officer()
            assert await status(client, old) == 200

            rotated_at = time.monotonic()
            new_kid = idp.rotate(grace_s)
            new = officer()
            assert _kid(new) == new_kid != _kid(old)
            assert await published(client) == {new_kid, _kid(old)}
            await asyncio.sleep(cooldown_s + 0.1)
            assert await status(client, new) == 200  # a new kid: fetched, no restart
            assert await status(client, old) == 200  # the grace period

            await asyncio.sleep(max(0.0, rotated_at + grace_s + cache_s + 0.5 - time.monotonic()))
            assert await published(client) == {new_kid}
            refused = await client.get(
                "/v1/officer/queue", headers={"Authorization": f"Bearer {old}"}
            )
            assert refused.status_code == 401
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert await status(client, new) == 200
        # Dropped means gone from the provider's own store too.
        kept = json.loads((idp.directory / "keys.json").read_text())["keys"]
        assert [k["kid"] for k in kept] == [new_kid]
    finally:
        process.stop()
