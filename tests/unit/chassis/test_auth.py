"""Token verification with public keys only: what a service accepts and what it refuses.

A small app with one protected route stands in for a service; keys come from a JWKS file
or from a JWKS endpoint served by a local HTTP server that counts its fetches."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from fastapi import Depends, FastAPI

from chassis.auth import (
    Principal,
    Role,
    mint_token,
    new_signing_key,
    public_jwk,
    require_roles,
    write_jwks,
)
from chassis.problems import install_problem_handlers
from chassis.settings import ServiceSettings

LEEWAY_S = 30


def _app(settings: ServiceSettings) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    officer = require_roles(settings, Role.OFFICER)

    @app.get("/whoami")
    # A default, not an Annotated alias: with postponed annotations FastAPI cannot resolve
    # a name local to this function.
    async def whoami(principal: Principal = Depends(officer)) -> dict[str, Any]:  # noqa: B008
        return {"sub": principal.subject, "agency": principal.agency}

    return app


class Service:
    def __init__(self, **settings: Any) -> None:
        fields = {"jwt_jwks_url": None, "jwt_jwks_file": None, "jwt_leeway_s": LEEWAY_S}
        self.settings = ServiceSettings(**(fields | settings))
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=_app(self.settings)), base_url="http://svc"
        )

    async def call(self, token: str) -> httpx.Response:
        return await self.client.get("/whoami", headers={"Authorization": f"Bearer {token}"})


def _officer(key: str, **claims: Any) -> str:
    return mint_token(key, "officer-1", ["officer"], agency="STNMT-MT", **claims)


def _assert_refused(response: httpx.Response, why: str = "") -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"] == "Bearer"
    if why:
        assert why in response.json()["detail"], response.json()


@pytest.fixture
def key() -> str:
    return new_signing_key()


@pytest.fixture
def jwks(tmp_path: Path, key: str) -> Path:
    return write_jwks(tmp_path / "jwks.json", key)


async def test_a_token_signed_with_a_published_key_is_accepted(key: str, jwks: Path) -> None:
    response = await Service(jwt_jwks_file=str(jwks)).call(_officer(key))
    assert response.status_code == 200, response.text
    assert response.json() == {"sub": "officer-1", "agency": "STNMT-MT"}


async def test_a_token_signed_with_a_key_not_in_the_jwks_is_refused(key: str, jwks: Path) -> None:
    stranger = new_signing_key()
    service = Service(jwt_jwks_file=str(jwks))
    _assert_refused(await service.call(_officer(stranger)), "unknown key")
    # Naming a published kid does not help: the signature is checked with that key.
    published = public_jwk(key)["kid"]
    _assert_refused(await service.call(_officer(stranger, kid=published)))


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"issuer": "https://someone-else.example"}, "issuer"),
        ({"audience": "another-system"}, "Audience"),
        ({"ttl_s": -(LEEWAY_S + 5)}, "expired"),
        ({"ttl_s": 600, "not_before_s": LEEWAY_S + 30}, "not yet valid"),
    ],
    ids=["wrong-iss", "wrong-aud", "expired", "not-yet-valid"],
)
async def test_a_token_with_wrong_claims_is_refused(
    key: str, jwks: Path, claims: dict[str, Any], why: str
) -> None:
    _assert_refused(await Service(jwt_jwks_file=str(jwks)).call(_officer(key, **claims)), why)


async def test_clock_skew_within_the_leeway_is_tolerated(key: str, jwks: Path) -> None:
    service = Service(jwt_jwks_file=str(jwks))
    just_expired = _officer(key, ttl_s=-(LEEWAY_S - 10))
    almost_valid = _officer(key, ttl_s=600, not_before_s=LEEWAY_S - 10)
    assert (await service.call(just_expired)).status_code == 200
    assert (await service.call(almost_valid)).status_code == 200


def _claims() -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": "intruder",
        "roles": ["officer", "auditor"],
        "scope": "audit:pii identity:resolve",
        "iss": "hoso-idp",
        "aud": "hoso",
        "iat": now,
        "exp": now + 600,
    }


def _hs256(secret: bytes, kid: str) -> str:
    """Signed by hand: PyJWT itself refuses a public key as an HMAC secret."""

    def part(value: dict[str, Any]) -> str:
        raw = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{part(_claims())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


async def test_an_hs256_token_is_refused_whatever_its_secret(key: str, jwks: Path) -> None:
    published = public_jwk(key)
    raw_public = base64.urlsafe_b64decode(published["x"] + "==")
    service = Service(jwt_jwks_file=str(jwks))
    # Among the secrets: what a verifier holds, the classic algorithm-confusion attempt.
    document = json.dumps({"keys": [published]})
    for secret in (b"secret", b"x" * 64, document.encode(), published["x"].encode(), raw_public):
        _assert_refused(await service.call(_hs256(secret, published["kid"])), "HS256")


async def test_unsigned_and_kid_less_tokens_are_refused(key: str, jwks: Path) -> None:
    service = Service(jwt_jwks_file=str(jwks))
    unsigned = jwt.encode(_claims(), None, algorithm="none")
    _assert_refused(await service.call(unsigned), "not accepted")
    no_kid = jwt.encode(_claims(), Ed25519PrivateKey.generate(), algorithm="EdDSA")
    _assert_refused(await service.call(no_kid), "kid")


async def test_an_rs256_token_from_an_oidc_provider_is_accepted(tmp_path: Path) -> None:
    rsa = generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa.public_key()))
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [public | {"kid": "rsa-1"}]}))
    service = Service(jwt_jwks_file=str(tmp_path / "jwks.json"))
    claims = _claims() | {"roles": ["officer"]}
    token = jwt.encode(claims, rsa, algorithm="RS256", headers={"kid": "rsa-1"})
    assert (await service.call(token)).status_code == 200
    # The key's type decides the algorithm: the RSA key's kid on an EdDSA token fails.
    forged = jwt.encode(claims, Ed25519PrivateKey.generate(), "EdDSA", headers={"kid": "rsa-1"})
    _assert_refused(await service.call(forged))


async def test_a_private_key_in_the_jwks_is_never_used(key: str, tmp_path: Path) -> None:
    private = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(Ed25519PrivateKey.generate()))
    assert "d" in private
    private["kid"] = "leaked"
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [private]}))
    service = Service(jwt_jwks_file=str(path))
    _assert_refused(await service.call(_officer(key, kid="leaked")), "unknown key")


async def test_a_rewritten_jwks_file_is_read_without_a_restart(key: str, jwks: Path) -> None:
    service = Service(jwt_jwks_file=str(jwks), jwt_jwks_cooldown_s=3600)
    new = new_signing_key()
    assert (await service.call(_officer(key))).status_code == 200
    _assert_refused(await service.call(_officer(new)))
    write_jwks(jwks, new, key)  # rotated: the new key current, the old one still published
    assert (await service.call(_officer(new))).status_code == 200
    assert (await service.call(_officer(key))).status_code == 200
    write_jwks(jwks, new)  # the old key's grace period is over
    _assert_refused(await service.call(_officer(key)))
    assert (await service.call(_officer(new))).status_code == 200


# --------------------------------------------------------------------------- JWKS URL


class _Endpoint:
    """A JWKS endpoint whose key set the test changes, counting the fetches."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                body = json.dumps({"keys": [public_jwk(k) for k in outer.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def endpoint() -> Iterator[_Endpoint]:
    served = _Endpoint()
    yield served
    served.server.shutdown()
    served.server.server_close()


async def test_unknown_kids_trigger_at_most_one_fetch_per_cooldown(
    key: str, endpoint: _Endpoint
) -> None:
    endpoint.keys = [key]
    cooldown = 1.0
    service = Service(jwt_jwks_url=endpoint.url, jwt_jwks_cooldown_s=cooldown)
    assert (await service.call(_officer(key))).status_code == 200
    assert endpoint.fetches == 1
    # A flood of made-up kids right after: answered from what is held, no fetch at all.
    flood = [_officer(new_signing_key()) for _ in range(25)]
    for response in await asyncio.gather(*(service.call(t) for t in flood)):
        _assert_refused(response)
    assert endpoint.fetches == 1
    # The provider rotates; after the cooldown the first token with the new kid causes
    # one fetch and is accepted, and the next flood again causes none.
    new = new_signing_key()
    endpoint.keys = [new, key]
    await asyncio.sleep(cooldown + 0.1)
    responses = await asyncio.gather(*(service.call(_officer(new)) for _ in range(10)))
    assert [r.status_code for r in responses] == [200] * 10
    assert endpoint.fetches == 2
    for response in await asyncio.gather(*(service.call(t) for t in flood)):
        _assert_refused(response)
    assert endpoint.fetches == 2
    assert (await service.call(_officer(key))).status_code == 200


async def test_keys_are_fetched_again_when_the_cache_expires(key: str, endpoint: _Endpoint) -> None:
    endpoint.keys = [key]
    service = Service(jwt_jwks_url=endpoint.url, jwt_jwks_cache_s=0.5, jwt_jwks_cooldown_s=0.1)
    assert (await service.call(_officer(key))).status_code == 200
    endpoint.keys = [new_signing_key()]  # the provider dropped the key
    assert (await service.call(_officer(key))).status_code == 200  # still cached
    await asyncio.sleep(0.6)
    _assert_refused(await service.call(_officer(key)))
    assert endpoint.fetches == 2


async def test_an_unreachable_provider_is_a_503_not_a_401(key: str, endpoint: _Endpoint) -> None:
    url = endpoint.url
    endpoint.server.shutdown()
    endpoint.server.server_close()
    response = await Service(jwt_jwks_url=url, jwt_jwks_cooldown_s=60).call(_officer(key))
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_service_without_keys_refuses_everyone(key: str) -> None:
    response = await Service().call(_officer(key))
    assert response.status_code == 503
    assert "JWT_JWKS_URL" in response.json()["detail"]


# --------------------------------------------------------------------------- verified tokens


class _Decodes:
    """Counts the signature checks: a token answered from the cache of verified tokens
    is not decoded again."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        decode = jwt.decode

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return decode(*args, **kwargs)

        monkeypatch.setattr(jwt, "decode", counting)


async def test_a_token_is_verified_once_until_its_expiry(
    key: str, jwks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decodes = _Decodes(monkeypatch)
    service = Service(jwt_jwks_file=str(jwks))
    token = _officer(key, ttl_s=60)
    assert (await service.call(token)).status_code == 200
    assert (await service.call(token)).status_code == 200
    assert decodes.count == 1
    # Past its exp the token is never answered from the cache, leeway or not.
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 61)
    assert (await service.call(token)).status_code == 200  # within the 30 s leeway
    assert decodes.count == 2


async def test_a_tampered_token_is_never_answered_from_the_cache(
    key: str, jwks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decodes = _Decodes(monkeypatch)
    service = Service(jwt_jwks_file=str(jwks))
    token = _officer(key)
    assert (await service.call(token)).status_code == 200
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raised = base64.urlsafe_b64encode(
        json.dumps(claims | {"roles": ["officer", "auditor"]}).encode()
    ).rstrip(b"=")
    _assert_refused(await service.call(f"{header}.{raised.decode()}.{signature}"))
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    _assert_refused(await service.call(f"{header}.{payload}.{flipped}"))
    assert decodes.count == 3


async def test_a_key_dropped_from_the_set_stops_its_cached_tokens(
    key: str, jwks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decodes = _Decodes(monkeypatch)
    service = Service(jwt_jwks_file=str(jwks), jwt_jwks_cooldown_s=3600)
    token = _officer(key)
    assert (await service.call(token)).status_code == 200
    assert (await service.call(token)).status_code == 200
    assert decodes.count == 1
    write_jwks(jwks, new_signing_key())  # rotated, the old key revoked at once
    _assert_refused(await service.call(token), "unknown key")


async def test_a_reloaded_key_set_verifies_the_token_again(
    key: str, endpoint: _Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint.keys = [key]
    decodes = _Decodes(monkeypatch)
    service = Service(jwt_jwks_url=endpoint.url, jwt_jwks_cache_s=0.5, jwt_jwks_cooldown_s=0.1)
    token = _officer(key)
    assert (await service.call(token)).status_code == 200
    assert (await service.call(token)).status_code == 200
    assert decodes.count == 1
    endpoint.keys = [new_signing_key()]  # the provider revoked the key
    await asyncio.sleep(0.6)
    _assert_refused(await service.call(token), "unknown key")
    assert endpoint.fetches == 2
