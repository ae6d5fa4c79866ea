"""Token verification with public keys only: what a service accepts and what it refuses.

A small app with one protected route stands in for a service; keys come from a JWKS file
or from a JWKS endpoint served by a local HTTP server that counts its fetches."""

from __future__ import annotations

import asyncio
import base64
import functools
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
    FileKeySource,
    KeySource,
    Principal,
    Role,
    UrlKeySource,
    VerifiedTokens,
    _Verified,
    mint_token,
    new_signing_key,
    public_jwk,
    require_roles,
    verify_token,
    write_jwks,
)
from chassis.problems import Problem, install_problem_handlers
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


class FakeClock:
    """Both of a key source's clocks, moved on by the test instead of sleeping."""

    def __init__(self) -> None:
        self.wall = time.time()
        self.elapsed = 1000.0

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.elapsed

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.elapsed += seconds


def _settings(**settings: Any) -> ServiceSettings:
    return ServiceSettings(**({"jwt_leeway_s": LEEWAY_S} | settings))


async def _status(source: KeySource, token: str, **settings: Any) -> int:
    """200 when ``source`` accepts ``token``, else the problem's status."""
    try:
        principal = await verify_token(_settings(**settings), token, source=source)
    except Problem as problem:
        return problem.status
    assert principal.subject == "officer-1"
    return 200


async def _refusal(source: KeySource, token: str) -> str:
    with pytest.raises(Problem) as refused:
        await verify_token(_settings(), token, source=source)
    assert refused.value.status == 401
    return str(refused.value.detail)


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
    clock = FakeClock()
    source = FileKeySource(str(jwks), cooldown_s=3600, clock=clock)
    new = new_signing_key()
    assert await _status(source, _officer(key)) == 200
    assert await _status(source, _officer(new)) == 401
    write_jwks(jwks, new, key)  # rotated: the new key current, the old one still published
    clock.advance(FileKeySource.CHECK_INTERVAL_S)
    assert await _status(source, _officer(new)) == 200
    assert await _status(source, _officer(key)) == 200
    write_jwks(jwks, new)  # the old key's grace period is over
    clock.advance(FileKeySource.CHECK_INTERVAL_S)
    assert await _status(source, _officer(key)) == 401
    assert await _status(source, _officer(new)) == 200


async def test_the_jwks_file_is_looked_at_once_a_second_at_most(key: str, jwks: Path) -> None:
    looks: list[float] = []

    class Counted(FileKeySource):
        def _signature(self) -> tuple[int, int, int] | None:
            looks.append(clock.monotonic())
            return super()._signature()

    clock = FakeClock()
    source = Counted(str(jwks), cooldown_s=5, clock=clock)
    tokens = [_officer(key) for _ in range(5)]
    for _ in range(20):
        assert [await _status(source, t) for t in tokens] == [200] * 5
    start = clock.monotonic()
    assert looks == [start, start]  # looked at, then read: once for 100 requests
    clock.advance(FileKeySource.CHECK_INTERVAL_S / 2)
    assert await _status(source, tokens[0]) == 200
    assert len(looks) == 2
    clock.advance(FileKeySource.CHECK_INTERVAL_S / 2)
    assert await _status(source, tokens[0]) == 200
    assert looks[2:] == [start + FileKeySource.CHECK_INTERVAL_S]  # unchanged: not read again
    assert source.reloads == 1


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
        # A short poll: shutdown() waits for it at every teardown.
        serve = functools.partial(self.server.serve_forever, poll_interval=0.05)
        threading.Thread(target=serve, daemon=True).start()


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
    clock = FakeClock()
    source = UrlKeySource(endpoint.url, cache_s=300, cooldown_s=1.0, clock=clock)
    assert await _status(source, _officer(key)) == 200
    assert endpoint.fetches == 1
    # A flood of made-up kids right after: answered from what is held, no fetch at all.
    flood = [_officer(new_signing_key()) for _ in range(25)]
    assert await asyncio.gather(*(_status(source, t) for t in flood)) == [401] * 25
    assert endpoint.fetches == 1
    # The provider rotates; after the cooldown the first token with the new kid causes
    # one fetch and is accepted, and the next flood again causes none.
    new = new_signing_key()
    endpoint.keys = [new, key]
    clock.advance(1.1)
    responses = await asyncio.gather(*(_status(source, _officer(new)) for _ in range(10)))
    assert responses == [200] * 10
    assert endpoint.fetches == 2
    assert await asyncio.gather(*(_status(source, t) for t in flood)) == [401] * 25
    assert endpoint.fetches == 2
    assert await _status(source, _officer(key)) == 200


async def test_keys_are_fetched_again_when_the_cache_expires(key: str, endpoint: _Endpoint) -> None:
    endpoint.keys = [key]
    clock = FakeClock()
    source = UrlKeySource(endpoint.url, cache_s=30, cooldown_s=5, clock=clock)
    assert await _status(source, _officer(key)) == 200
    endpoint.keys = [new_signing_key()]  # the provider dropped the key
    clock.advance(29)
    assert await _status(source, _officer(key)) == 200  # still held
    assert endpoint.fetches == 1
    clock.advance(1)
    assert await _status(source, _officer(key)) == 401
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


async def test_a_token_is_verified_once_then_answered_from_memory(
    key: str, jwks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decodes = _Decodes(monkeypatch)
    service = Service(jwt_jwks_file=str(jwks))
    token = _officer(key)
    for _ in range(3):
        response = await service.call(token)
        assert response.json() == {"sub": "officer-1", "agency": "STNMT-MT"}
    assert decodes.count == 1


async def test_a_cached_token_past_its_exp_is_refused(
    key: str, jwks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decodes = _Decodes(monkeypatch)
    clock = FakeClock()
    source = FileKeySource(str(jwks), cooldown_s=5, clock=clock)
    token = _officer(key, ttl_s=20)
    assert await _status(source, token) == 200
    clock.advance(19)
    assert await _status(source, token) == 200
    assert decodes.count == 1
    # Past its exp the token is never answered from memory: verified again, it passes
    # within the leeway, and is refused after it (and was not remembered meanwhile).
    clock.advance(2)
    assert await _status(source, token) == 200
    assert decodes.count == 2
    clock.advance(LEEWAY_S)
    assert "expired" in await _refusal(source, token)
    assert decodes.count == 3


async def test_a_different_token_is_verified_anew(
    key: str, jwks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decodes = _Decodes(monkeypatch)
    source = FileKeySource(str(jwks), cooldown_s=5, clock=FakeClock())
    first, second = _officer(key), _officer(key)  # same caller, another jti
    assert await _status(source, first) == 200
    assert await _status(source, second) == 200
    assert decodes.count == 2
    # What a token was accepted for is part of what is remembered: another audience
    # verifies it again, and refuses it.
    assert await _status(source, first, jwt_audience="another-system") == 401
    assert decodes.count == 3
    assert await _status(source, first) == 200
    assert await _status(source, second) == 200
    assert decodes.count == 3


async def test_a_verification_is_trusted_for_a_minute_at_most(
    key: str, jwks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decodes = _Decodes(monkeypatch)
    clock = FakeClock()
    source = FileKeySource(str(jwks), cooldown_s=5, clock=clock)
    token = _officer(key, ttl_s=3600)
    assert await _status(source, token) == 200
    clock.advance(VerifiedTokens.MAX_AGE_S - 1)
    assert await _status(source, token) == 200
    assert decodes.count == 1
    clock.advance(1)
    assert await _status(source, token) == 200
    assert decodes.count == 2


def test_the_verified_tokens_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(VerifiedTokens, "MAX_ENTRIES", 3)
    clock = FakeClock()
    verified = VerifiedTokens(clock)
    principal = Principal("officer-1", frozenset({"officer"}))
    entry = _Verified(principal, "kid-1", clock.time() + 600, generation=1)
    digests = [hashlib.sha256(str(n).encode()).digest() for n in range(5)]
    for digest in digests[:3]:
        verified.put(digest, entry)
    assert verified.get(digests[0], generation=1) is entry  # used: now the most recent
    for digest in digests[3:]:
        verified.put(digest, entry)
    assert len(verified) == 3
    kept = [d for d in digests if verified.get(d, generation=1) is not None]
    assert kept == [digests[0], digests[3], digests[4]]
    # An entry of another key set is never an answer.
    assert verified.get(digests[0], generation=2) is None


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"exp": "2999-01-01"}, "exp claim must be a number"),
        ({"exp": float("nan")}, "exp claim must be a number"),
        ({"exp": True}, "exp claim must be a number"),
        ({"nbf": "now"}, "nbf claim must be a number"),
        ({"iat": int(time.time()) + 3600}, "not yet valid (iat)"),
    ],
    ids=["exp-text", "exp-nan", "exp-bool", "nbf-text", "iat-ahead"],
)
async def test_a_token_with_malformed_times_is_refused(
    key: str, jwks: Path, claims: dict[str, Any], why: str
) -> None:
    body = _claims() | {"roles": ["officer"], "sub": "officer-1"} | claims
    token = jwt.encode(body, key, "EdDSA", headers={"kid": public_jwk(key)["kid"]})
    source = FileKeySource(str(jwks), cooldown_s=5, clock=FakeClock())
    assert why in await _refusal(source, token)


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


async def test_a_key_dropped_from_the_file_stops_its_cached_tokens(
    key: str, jwks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decodes = _Decodes(monkeypatch)
    clock = FakeClock()
    source = FileKeySource(str(jwks), cooldown_s=3600, clock=clock)
    token = _officer(key)
    assert await _status(source, token) == 200
    write_jwks(jwks, new_signing_key())  # rotated, the old key revoked at once
    # Until the file is looked at again the token is answered from memory; then never.
    assert await _status(source, token) == 200
    assert decodes.count == 1
    clock.advance(FileKeySource.CHECK_INTERVAL_S)
    assert "unknown key" in await _refusal(source, token)


async def test_a_key_dropped_by_the_provider_stops_its_cached_tokens(
    key: str, endpoint: _Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint.keys = [key]
    decodes = _Decodes(monkeypatch)
    clock = FakeClock()
    source = UrlKeySource(endpoint.url, cache_s=30, cooldown_s=5, clock=clock)
    token = _officer(key)
    assert await _status(source, token) == 200
    endpoint.keys = [new_signing_key()]  # the provider revoked the key
    clock.advance(29)
    assert await _status(source, token) == 200
    assert decodes.count == 1
    clock.advance(1)  # the key set is due a fetch: the token is checked against the new one
    assert "unknown key" in await _refusal(source, token)
    assert endpoint.fetches == 2
