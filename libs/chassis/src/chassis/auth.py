"""Bearer-token authentication and roles.

Tokens are JWTs signed by the province's identity provider (locally the launcher's, see
``deploy/idp/``) with Ed25519 (``EdDSA``) or RSA (``RS256``). A service holds public keys
only, from the provider's JWKS (``JWT_JWKS_URL``) or a JWKS file (``JWT_JWKS_FILE``),
chosen by the token's ``kid``: it can check a token but no service can make one. Claims:
``iss`` and ``aud`` (``JWT_ISSUER``, ``JWT_AUDIENCE``), ``exp`` and ``nbf`` (give or take
``JWT_LEEWAY_S``), ``sub``; ``roles`` (portal, officer, leader, desk, hotline, auditor,
operator); ``agency`` for officers, who only see their own agency's dossiers, and for the
one-stop desk (its own unit, e.g. ``STNMT-VP``: it receives dossiers for every unit);
``scope`` for clearances such as ``audit:pii`` (see personal data in the audit log) and
``identity:resolve`` (resolve a denouncer's pseudonym).

``hoso-token`` asks the identity provider for a token (OAuth 2.0 client credentials);
:func:`mint_token` signs one with a private key its caller holds (tests and benchmarks,
which act as their own provider).
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import json
import logging
import math
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Protocol, TypeVar

import anyio
import httpx
import jwt
from cachetools import TTLCache
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jwt import PyJWK, PyJWKClient, PyJWKSet

from chassis.problems import (
    AUTHENTICATION_NOT_CONFIGURED,
    AUTHENTICATION_UNAVAILABLE,
    FORBIDDEN,
    INVALID_TOKEN,
    UNAUTHENTICATED,
    Problem,
)
from chassis.settings import ServiceSettings

log = logging.getLogger("hoso.auth")

# What a service accepts. HS256 is absent on purpose: with a shared secret every verifier
# could also sign.
ALGORITHMS = ("EdDSA", "RS256")
LOCAL_TOKEN_TTL_S = 15 * 60
_FETCH_TIMEOUT_S = 5.0


class Role(StrEnum):
    PORTAL = "portal"
    OFFICER = "officer"
    LEADER = "leader"
    # The one-stop desk (Bộ phận Một cửa) receives counter and postal dossiers for every
    # unit of the department; the hotline officer keys petitions taken by phone.
    DESK = "desk"
    HOTLINE = "hotline"
    AUDITOR = "auditor"
    OPERATOR = "operator"


class Scope(StrEnum):
    AUDIT_PII = "audit:pii"
    IDENTITY_RESOLVE = "identity:resolve"


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]
    agency: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)

    def has(self, role: Role) -> bool:
        return role.value in self.roles

    def actor(self) -> str:
        """How events name this caller: a role and an opaque subject, never a name."""
        for role in (
            Role.LEADER,
            Role.OFFICER,
            Role.DESK,
            Role.HOTLINE,
            Role.AUDITOR,
            Role.OPERATOR,
            Role.PORTAL,
        ):
            if role.value in self.roles:
                kind = "officer" if role is Role.LEADER else role.value
                return f"{kind}:{self.subject}"
        return f"user:{self.subject}"


# --------------------------------------------------------------------------- keys


def _public_signing_keys(jwk_set: PyJWKSet) -> dict[str, PyJWK]:
    """The set's usable verification keys by kid. A private key is never used, even when
    a misconfigured provider publishes one: it is logged and skipped."""
    keys: dict[str, PyJWK] = {}
    for key in jwk_set.keys:
        if not key.key_id or key.public_key_use not in ("sig", None):
            continue
        if not isinstance(key.key, Ed25519PublicKey | RSAPublicKey):
            log.warning("JWKS key %s is not a public Ed25519 or RSA key; ignored", key.key_id)
            continue
        if key.algorithm_name in ALGORITHMS:
            keys[key.key_id] = key
    return keys


class Clock(Protocol):
    """Where the token checks read the time: the :mod:`time` module itself, or a test's
    fake that moves on without sleeping."""

    def time(self) -> float:
        """Seconds since the epoch, what ``exp``, ``nbf`` and ``iat`` are compared with."""
        ...

    def monotonic(self) -> float:
        """For intervals: key reloads, the age of a verification, the file's checks."""
        ...


@dataclass(frozen=True)
class _Verified:
    principal: Principal
    kid: str
    expires_at: float  # the token's exp, seconds since the epoch
    generation: int


class VerifiedTokens:
    """Tokens already verified, by the SHA-256 of the whole token, until their ``exp``
    (never beyond) and for :attr:`MAX_AGE_S` at most: a portal sends the same token with
    every request, and checking its signature again costs more than the rest of a small
    request's authentication. A changed byte is another digest, so a tampered token is
    never answered from here. Bounded, least recently used first out; an entry counts
    only for the key set it was verified with (:attr:`KeySource.generation`), and a
    reload starts an empty one, so a key dropped from the set stops its tokens at the
    next reload; the age limit bounds how long one verification is trusted whatever
    else happens."""

    MAX_ENTRIES = 4096
    MAX_AGE_S = 60.0

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._entries: TTLCache[bytes, _Verified] = TTLCache(
            self.MAX_ENTRIES, self.MAX_AGE_S, timer=clock.monotonic
        )

    def get(self, digest: bytes, generation: int) -> _Verified | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        # The exp is checked on every hit, without the leeway: that applies only to a
        # full verification.
        if entry.generation != generation or self._clock.time() >= entry.expires_at:
            self._entries.pop(digest, None)
            return None
        return entry

    def put(self, digest: bytes, entry: _Verified) -> None:
        self._entries[digest] = entry

    def __len__(self) -> int:
        return len(self._entries)


class KeySource:
    """Verification keys by kid, reloaded when stale or when a token names a kid not
    held, at most once per cooldown however many unknown kids arrive. A failed reload
    keeps the keys held (a provider's outage must not lock everyone out) and is retried
    after the cooldown.

    :meth:`lookup` never blocks, so it runs on the event loop; :meth:`reload` may wait on
    the network or the disk and runs in a worker thread."""

    def __init__(self, cooldown_s: float, clock: Clock = time) -> None:
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._keys: dict[str, PyJWK] = {}
        self._next_reload = 0.0
        self._lock = threading.Lock()
        self.reloads = 0
        self.ready = False  # keys were loaded at least once
        # Bumped by every reload that loaded keys: what a cached verification is tied to.
        self.generation = 0
        self.verified = VerifiedTokens(clock)

    def lookup(self, kid: str) -> tuple[PyJWK | None, bool]:
        """The key held for ``kid`` and whether a reload is due before trusting that."""
        now = self.clock.monotonic()
        key = self._keys.get(kid)
        due = now >= self._next_reload and (key is None or self._stale(now))
        return key, due

    def reload(self) -> None:
        with self._lock:
            now = self.clock.monotonic()
            if now < self._next_reload:
                return  # another request reloaded meanwhile, or the cooldown holds
            self._next_reload = now + self.cooldown_s
            self.reloads += 1
            try:
                self._keys = _public_signing_keys(self._fetch())
            except (jwt.PyJWTError, OSError, ValueError) as exc:
                log.warning("could not load the token signing keys: %s", exc)
                return
            self.ready = True
            self.generation += 1
            # A key dropped from the set must stop its tokens now, not at their expiry.
            self.verified = VerifiedTokens(self.clock)
            self._loaded(now)

    def _stale(self, now: float) -> bool:
        raise NotImplementedError

    def _fetch(self) -> PyJWKSet:
        raise NotImplementedError

    def _loaded(self, now: float) -> None:
        raise NotImplementedError


class UrlKeySource(KeySource):
    """The identity provider's JWKS endpoint, through PyJWKClient; the keys are trusted
    for ``cache_s`` and then fetched again, so a key the provider dropped stops working."""

    def __init__(self, url: str, cache_s: float, cooldown_s: float, clock: Clock = time) -> None:
        super().__init__(cooldown_s, clock)
        self.cache_s = cache_s
        self._client = PyJWKClient(
            url, cache_jwk_set=True, lifespan=cache_s, timeout=_FETCH_TIMEOUT_S
        )
        self._fresh_until = 0.0

    def _stale(self, now: float) -> bool:
        return now >= self._fresh_until

    def _fetch(self) -> PyJWKSet:
        # The decision to fetch is taken above (staleness, cooldown), hence refresh=True.
        return self._client.get_jwk_set(refresh=True)

    def _loaded(self, now: float) -> None:
        self._fresh_until = now + self.cache_s


class FileKeySource(KeySource):
    """A JWKS file, re-read when it changes (a rotation needs no restart). The file is
    looked at once per :attr:`CHECK_INTERVAL_S` at most, not on every request: a ``stat``
    costs more than answering a token already verified, and a rotation publishes the new
    key before signing with it, so seeing it within a second is soon enough."""

    CHECK_INTERVAL_S = 1.0
    _NEVER: tuple[int, int, int] = (-1, -1, -1)

    def __init__(self, path: str, cooldown_s: float, clock: Clock = time) -> None:
        super().__init__(cooldown_s, clock)
        self.path = Path(path)
        self._seen: tuple[int, int, int] | None = self._NEVER  # the file the keys came from
        self._observed: tuple[int, int, int] | None = self._NEVER  # the file last looked at
        self._next_check = 0.0

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def lookup(self, kid: str) -> tuple[PyJWK | None, bool]:
        now = self.clock.monotonic()
        if now >= self._next_check:
            self._next_check = now + self.CHECK_INTERVAL_S
            observed = self._signature()
            if observed != self._observed:
                self._observed = observed
                # A changed file is read at once, whatever the cooldown: it costs no network.
                self._next_reload = 0.0
        return super().lookup(kid)

    def _stale(self, now: float) -> bool:
        # Until it is read, also for the requests after the one that saw the change.
        return self._observed != self._seen

    def _fetch(self) -> PyJWKSet:
        self._seen = self._observed = self._signature()
        return PyJWKSet.from_json(self.path.read_text())

    def _loaded(self, now: float) -> None:
        pass


@functools.lru_cache(maxsize=16)
def _key_source(
    url: str | None, path: str | None, cache_s: float, cooldown_s: float
) -> KeySource | None:
    # One source per configuration and process: every router's dependency shares it.
    if url:
        return UrlKeySource(url, cache_s, cooldown_s)
    if path:
        return FileKeySource(path, cooldown_s)
    return None


def key_source(settings: ServiceSettings) -> KeySource | None:
    return _key_source(
        settings.jwt_jwks_url,
        settings.jwt_jwks_file,
        settings.jwt_jwks_cache_s,
        settings.jwt_jwks_cooldown_s,
    )


# --------------------------------------------------------------------------- verification


def _invalid(detail: str) -> Problem:
    return INVALID_TOKEN(detail, headers={"WWW-Authenticate": "Bearer"})


def _token_digest(settings: ServiceSettings, token: str) -> bytes:
    # What a token was accepted for is part of the key: two audiences never share one.
    scoped = f"{settings.jwt_issuer}\n{settings.jwt_audience}\n{token}"
    return hashlib.sha256(scoped.encode()).digest()


async def verify_token(
    settings: ServiceSettings, token: str, *, source: KeySource | None = None
) -> Principal:
    """The caller ``token`` names, or a problem (401, or 503 without keys). The keys are
    the ones ``settings`` name unless ``source`` is given (a test's, with a fake clock)."""
    source = source if source is not None else key_source(settings)
    if source is None:
        raise AUTHENTICATION_NOT_CONFIGURED("set JWT_JWKS_URL or JWT_JWKS_FILE")
    digest = _token_digest(settings, token)
    cached = source.verified.get(digest, source.generation)
    if cached is not None:
        # The key set may be due a reload (stale, or its file changed): then the token is
        # checked again against what the reload holds.
        key, due = source.lookup(cached.kid)
        if key is not None and not due:
            return cached.principal
    return await _verify(settings, source, token, digest)


async def _verify(
    settings: ServiceSettings, source: KeySource, token: str, digest: bytes
) -> Principal:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise _invalid(str(exc)) from exc
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALGORITHMS:
        raise _invalid(f"algorithm {alg!r} is not accepted; use one of {', '.join(ALGORITHMS)}")
    if not isinstance(kid, str) or not kid:
        raise _invalid("the token names no signing key (kid)")
    # Taken before the key: a reload finishing meanwhile makes what is cached below stale.
    generation = source.generation
    key, due = source.lookup(kid)
    if due:
        await anyio.to_thread.run_sync(source.reload)
        generation = source.generation
        key, _ = source.lookup(kid)
    if key is None and not source.ready:
        raise AUTHENTICATION_UNAVAILABLE(
            "the identity provider's signing keys could not be loaded",
            headers={"Retry-After": str(max(1, round(source.cooldown_s)))},
        )
    if key is None:
        raise _invalid("the token is signed with an unknown key")
    try:
        claims = jwt.decode(
            token,
            key.key,
            # The key decides the algorithm, so a token cannot pick a weaker one for it.
            algorithms=[key.algorithm_name],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={
                "require": ["exp", "iss", "aud", "sub"],
                # Checked below with the source's clock, the one the verified tokens are
                # answered by, so the two can never disagree about a token's expiry.
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise _invalid(str(exc)) from exc
    now = source.clock.time()
    expires_at = _within_lifetime(claims, now, settings.jwt_leeway_s)
    principal = _principal(claims)
    if expires_at > now:
        source.verified.put(digest, _Verified(principal, kid, expires_at, generation))
    return principal


def _numeric_date(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _invalid(f"the {name} claim must be a number of seconds since the epoch")
    return float(value)


def _within_lifetime(claims: dict[str, Any], now: float, leeway: float) -> float:
    """The token's ``exp``, once ``exp``, ``nbf`` and ``iat`` admit ``now`` give or
    take ``leeway`` (RFC 7519 §4.1.4-6, as PyJWT checks them)."""
    expires_at = _numeric_date(claims, "exp")
    if expires_at is None:  # required by the decoding above; here for the type
        raise _invalid('Token is missing the "exp" claim')
    if expires_at <= now - leeway:
        raise _invalid("Signature has expired")
    not_before = _numeric_date(claims, "nbf")
    if not_before is not None and not_before > now + leeway:
        raise _invalid("The token is not yet valid (nbf)")
    issued_at = _numeric_date(claims, "iat")
    if issued_at is not None and issued_at > now + leeway:
        raise _invalid("The token is not yet valid (iat)")
    return expires_at


def _principal(claims: dict[str, Any]) -> Principal:
    roles = claims.get("roles") or []
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise _invalid("roles claim must be a list of strings")
    scope = claims.get("scope") or ""
    agency = claims.get("agency")
    return Principal(
        subject=str(claims["sub"]),
        roles=frozenset(roles),
        agency=agency if isinstance(agency, str) else None,
        scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
    )


_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    bearerFormat="JWT",
    description="A JWT from the province's identity provider (EdDSA or RS256), carrying "
    "`roles`, for officers an `agency`, and a space-separated `scope`. Each operation's "
    "security requirement lists the roles it admits (any one) and the scopes it needs.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
RoleCheck = Callable[[Request, HTTPAuthorizationCredentials | None], Awaitable[Principal]]


async def _authenticate(
    settings: ServiceSettings, request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    if credentials is None:
        raise UNAUTHENTICATED(
            "send a Bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = await verify_token(settings, credentials.credentials)
    request.state.principal = principal
    return principal


def _admit(principal: Principal, wanted: set[str]) -> Principal:
    if not wanted & principal.roles:
        raise FORBIDDEN("this operation needs one of: " + ", ".join(sorted(wanted)))
    return principal


def _settings_of(request: Request) -> ServiceSettings:
    # `chassis.service.create_app` keeps the service's runtime on the app.
    runtime = getattr(request.app.state, "runtime", None)
    settings = getattr(runtime, "settings", None)
    if not isinstance(settings, ServiceSettings):
        raise RuntimeError("the app has no runtime: build it with chassis.service.create_app")
    return settings


async def caller(request: Request, credentials: Credentials) -> Principal:
    """The authenticated caller, checked with the settings of the app serving the
    request, so module-level routers can declare it before any settings exist."""
    return await _authenticate(_settings_of(request), request, credentials)


# What each access check admits, by the dependency that checks it: chassis.openapi writes
# it into the operations' security requirements, so the documents say what the code does.
_Dependency = TypeVar("_Dependency", bound=Callable[..., Any])
_ROLES_ADMITTED: dict[Callable[..., Any], frozenset[str]] = {}
_SCOPES_NEEDED: dict[Callable[..., Any], frozenset[str]] = {}


def roles_admitted(dependency: Callable[..., Any]) -> frozenset[str] | None:
    """The roles a dependency made by :func:`caller_with` admits (any one of them)."""
    return _ROLES_ADMITTED.get(dependency)


def scopes_needed(dependency: Callable[..., Any]) -> frozenset[str] | None:
    """The scopes a dependency marked by :func:`needs_scopes` requires (all of them)."""
    return _SCOPES_NEEDED.get(dependency)


def needs_scopes(*scopes: Scope) -> Callable[[_Dependency], _Dependency]:
    """Marks a dependency that refuses a caller without every one of ``scopes``; the
    check itself is the dependency's."""

    def mark(dependency: _Dependency) -> _Dependency:
        _SCOPES_NEEDED[dependency] = frozenset(s.value for s in scopes)
        return dependency

    return mark


def caller_with(*roles: Role) -> RoleCheck:
    """Like :func:`caller`, admitting only a caller holding any of ``roles`` (403)."""
    wanted = {r.value for r in roles}

    async def dependency(request: Request, credentials: Credentials) -> Principal:
        return _admit(await caller(request, credentials), wanted)

    _ROLES_ADMITTED[dependency] = frozenset(wanted)
    return dependency


def principal_dependency(settings: ServiceSettings) -> Callable[..., Awaitable[Principal]]:
    async def current_principal(request: Request, credentials: Credentials) -> Principal:
        return await _authenticate(settings, request, credentials)

    return current_principal


def require_roles(settings: ServiceSettings, *roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits a caller holding any of ``roles``."""
    wanted = {r.value for r in roles}

    async def dependency(request: Request, credentials: Credentials) -> Principal:
        return _admit(await _authenticate(settings, request, credentials), wanted)

    _ROLES_ADMITTED[dependency] = frozenset(wanted)
    return dependency


# --------------------------------------------------------------------------- signing keys


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def new_signing_key() -> str:
    """A fresh Ed25519 private key as PKCS#8 PEM, for a caller acting as its own
    provider (tests, benchmarks). Never put it in a service's environment."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem.decode()


def _private_key(key: str | Ed25519PrivateKey) -> Ed25519PrivateKey:
    if isinstance(key, Ed25519PrivateKey):
        return key
    loaded = serialization.load_pem_private_key(key.encode(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError("an Ed25519 private key is needed")
    return loaded


def public_jwk(key: str | Ed25519PrivateKey) -> dict[str, str]:
    """The public half of ``key`` as a JWK, its kid the RFC 7638 thumbprint."""
    raw = (
        _private_key(key)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    kid = _b64url(hashlib.sha256(canonical).digest())
    return members | {"kid": kid, "use": "sig", "alg": "EdDSA"}


def write_jwks(path: str | Path, *keys: str | Ed25519PrivateKey) -> Path:
    """Publish the public halves of ``keys`` as a JWKS file, atomically (a service reading
    it meanwhile sees the old or the new set, never half of one)."""
    target = Path(path)
    document = json.dumps({"keys": [public_jwk(k) for k in keys]}, indent=2)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(fd, "w") as handle:
        handle.write(document)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
    return target


def publish_jwks(*keys: str | Ed25519PrivateKey) -> str:
    """:func:`write_jwks` to a new temporary file; returns its path for ``JWT_JWKS_FILE``."""
    fd, path = tempfile.mkstemp(prefix="hoso-jwks-", suffix=".json")
    os.close(fd)
    return str(write_jwks(path, *keys))


def mint_token(
    key: str | Ed25519PrivateKey,
    subject: str,
    roles: Iterable[str],
    *,
    agency: str | None = None,
    scopes: Iterable[str] = (),
    ttl_s: int = LOCAL_TOKEN_TTL_S,
    not_before_s: int = 0,
    issuer: str = "hoso-idp",
    audience: str = "hoso",
    kid: str | None = None,
) -> str:
    """An EdDSA token signed with ``key`` (a private key the caller holds)."""
    private = _private_key(key)
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": subject,
        "roles": list(roles),
        "iat": now,
        "nbf": now + not_before_s,
        "exp": now + ttl_s,
        "iss": issuer,
        "aud": audience,
        "jti": uuid.uuid4().hex,
    }
    if agency:
        claims["agency"] = agency
    scope = " ".join(scopes)
    if scope:
        claims["scope"] = scope
    headers = {"kid": kid or public_jwk(private)["kid"]}
    return jwt.encode(claims, private, algorithm="EdDSA", headers=headers)


# --------------------------------------------------------------------------- IdP client


@dataclass(frozen=True)
class ClientCredentials:
    """An OAuth 2.0 client of the identity provider (client credentials grant)."""

    token_endpoint: str
    client_id: str
    client_secret: str

    @classmethod
    def from_file(cls, path: str | Path) -> ClientCredentials:
        data = json.loads(Path(path).read_text())
        return cls(data["token_endpoint"], data["client_id"], data["client_secret"])


def request_token(
    client: ClientCredentials,
    *,
    roles: Iterable[str] = (),
    subject: str | None = None,
    agency: str | None = None,
    scopes: Iterable[str] = (),
    ttl_s: int | None = None,
    timeout_s: float = 10.0,
) -> str:
    """A token from the provider's token endpoint (RFC 6749 §4.4). Raises
    :class:`httpx.HTTPError` when it does not answer, ``PermissionError`` when it refuses."""
    form = {"grant_type": "client_credentials"}
    if roles:
        form["role"] = " ".join(roles)
    if scopes:
        form["scope"] = " ".join(scopes)
    if subject:
        form["sub"] = subject
    if agency:
        form["agency"] = agency
    if ttl_s:
        form["expires_in"] = str(ttl_s)
    response = httpx.post(
        client.token_endpoint,
        data=form,
        auth=(client.client_id, client.client_secret),
        timeout=timeout_s,
    )
    if response.status_code != 200:
        try:
            error = response.json()
            reason = f"{error.get('error')}: {error.get('error_description', '')}"
        except ValueError:
            reason = f"HTTP {response.status_code}"
        raise PermissionError(f"the identity provider refused: {reason}")
    return str(response.json()["access_token"])


def local_client_file(name: str) -> Path | None:
    """``.local/idp/<name>.json`` of the nearest checkout (``HOSO_LOCAL_DIR`` first),
    written by the launcher's identity provider."""
    candidates: list[Path] = []
    if local := os.environ.get("HOSO_LOCAL_DIR"):
        candidates.append(Path(local).expanduser() / "idp" / f"{name}.json")
    here = Path.cwd().resolve()
    candidates += [d / ".local" / "idp" / f"{name}.json" for d in (here, *here.parents)]
    return next((c for c in candidates if c.is_file()), None)


def _developer_client() -> ClientCredentials | None:
    env = os.environ
    if env.get("HOSO_IDP_CLIENT_ID") and env.get("HOSO_IDP_CLIENT_SECRET"):
        endpoint = env.get("HOSO_IDP_TOKEN_URL", "http://127.0.0.1:8090/token")
        return ClientCredentials(endpoint, env["HOSO_IDP_CLIENT_ID"], env["HOSO_IDP_CLIENT_SECRET"])
    path = env.get("HOSO_IDP_CLIENT_FILE") or local_client_file("developer")
    return ClientCredentials.from_file(path) if path else None


def token_cli(argv: list[str] | None = None) -> None:
    """Ask the identity provider for a token: ``hoso-token --role officer --agency
    STNMT-MT``. The client is the local developer's (``.local/idp/developer.json``,
    written by ``make run``) unless ``HOSO_IDP_CLIENT_FILE`` or ``HOSO_IDP_CLIENT_ID``,
    ``HOSO_IDP_CLIENT_SECRET`` and ``HOSO_IDP_TOKEN_URL`` name another."""
    parser = argparse.ArgumentParser(prog="hoso-token", description=token_cli.__doc__)
    parser.add_argument("--sub", default="dev-user")
    parser.add_argument("--role", action="append", required=True, choices=[r.value for r in Role])
    parser.add_argument("--agency")
    parser.add_argument("--scope", action="append", default=[])
    parser.add_argument("--ttl", type=int, default=LOCAL_TOKEN_TTL_S, help="seconds")
    args = parser.parse_args(argv)
    try:
        client = _developer_client()
    except (OSError, ValueError, KeyError) as exc:
        parser.error(f"cannot read the client's credentials: {exc}")
    if client is None:
        parser.error("no identity provider client: run `make run` (it writes .local/idp/)")
    try:
        token = request_token(
            client,
            roles=args.role,
            subject=args.sub,
            agency=args.agency,
            scopes=args.scope,
            ttl_s=args.ttl,
        )
    except (httpx.HTTPError, PermissionError) as exc:
        print(f"hoso-token: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    print(token)
