"""Bearer-token authentication and roles.

Tokens are JWTs from the province's identity provider (or `hoso-token` locally). Claims:
``sub``; ``roles`` (portal, officer, leader, auditor, operator); ``agency`` for officers,
who only see their own agency's dossiers; ``scope`` for clearances such as ``audit:pii``
(see personal data in the audit log) and ``identity:resolve`` (resolve a denouncer's
pseudonym).
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from chassis.problems import Problem
from chassis.settings import ServiceSettings


class Role(StrEnum):
    PORTAL = "portal"
    OFFICER = "officer"
    LEADER = "leader"
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
        for role in (Role.LEADER, Role.OFFICER, Role.AUDITOR, Role.OPERATOR, Role.PORTAL):
            if role.value in self.roles:
                kind = "officer" if role is Role.LEADER else role.value
                return f"{kind}:{self.subject}"
        return f"user:{self.subject}"


_bearer = HTTPBearer(auto_error=False)


def _secret(settings: ServiceSettings) -> str:
    if settings.jwt_secret is None:
        raise Problem(503, "Authentication not configured", "JWT_SECRET is not set")
    return settings.jwt_secret.get_secret_value()


def decode_token(settings: ServiceSettings, token: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            _secret(settings),
            algorithms=["HS256"],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise Problem(
            401, "Invalid token", str(exc), headers={"WWW-Authenticate": "Bearer"}
        ) from exc
    roles = claims.get("roles") or []
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Problem(401, "Invalid token", "roles claim must be a list of strings")
    scope = claims.get("scope") or ""
    return Principal(
        subject=str(claims["sub"]),
        roles=frozenset(roles),
        agency=claims.get("agency"),
        scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
    )


def principal_dependency(settings: ServiceSettings) -> Callable[..., Principal]:
    async def current_principal(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
    ) -> Principal:
        if credentials is None:
            raise Problem(
                401,
                "Authentication required",
                "send a Bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        principal = decode_token(settings, credentials.credentials)
        request.state.principal = principal
        return principal

    return current_principal


def require_roles(settings: ServiceSettings, *roles: Role) -> Callable[..., Principal]:
    """A dependency that admits a caller holding any of ``roles``."""
    current = principal_dependency(settings)
    wanted = {r.value for r in roles}

    async def dependency(principal: Principal = Depends(current)) -> Principal:
        if not wanted & principal.roles:
            raise Problem(
                403, "Forbidden", "this operation needs one of: " + ", ".join(sorted(wanted))
            )
        return principal

    return dependency


def mint_token(
    secret: str,
    subject: str,
    roles: Iterable[str],
    *,
    agency: str | None = None,
    scopes: Iterable[str] = (),
    ttl_s: int = 3600,
    issuer: str = "hoso-idp",
    audience: str = "hoso",
) -> str:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": subject,
        "roles": list(roles),
        "iat": now,
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
    return jwt.encode(claims, secret, algorithm="HS256")


def token_cli(argv: list[str] | None = None) -> None:
    """Mint a token for local use: ``hoso-token --role officer --agency STNMT-MT``."""
    parser = argparse.ArgumentParser(prog="hoso-token", description=token_cli.__doc__)
    parser.add_argument("--sub", default="dev-user")
    parser.add_argument("--role", action="append", required=True, choices=[r.value for r in Role])
    parser.add_argument("--agency")
    parser.add_argument("--scope", action="append", default=[])
    parser.add_argument("--ttl", type=int, default=3600)
    args = parser.parse_args(argv)
    secret = os.environ.get("JWT_SECRET")
    if not secret:
        parser.error("JWT_SECRET must be set (make run writes it to .local/env)")
    print(
        mint_token(
            secret, args.sub, args.role, agency=args.agency, scopes=args.scope, ttl_s=args.ttl
        )
    )
