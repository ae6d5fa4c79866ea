"""The identity provider: the authorization code flow with PKCE (RFC 7636, S256)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from urllib.parse import urlencode

import httpx

from workbench.adapters.api import ServiceUnavailable


class SignInFailed(Exception):
    """The provider refused the code (expired, used, wrong verifier)."""


def pkce_pair() -> tuple[str, str]:
    """A fresh code verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class IdentityProvider:
    def __init__(self, http: httpx.AsyncClient, issuer: str, client_id: str) -> None:
        self.http = http
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id

    def authorize_url(self, redirect_uri: str, state: str, challenge: str, lang: str) -> str:
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "ui_locales": lang,
            }
        )
        return f"{self.issuer}/authorize?{query}"

    async def exchange(self, code: str, verifier: str, redirect_uri: str) -> str:
        """The access token for ``code``."""
        try:
            response = await self.http.post(
                f"{self.issuer}/token",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri,
                    "client_id": self.client_id,
                    "code_verifier": verifier,
                },
            )
        except httpx.HTTPError as exc:
            raise ServiceUnavailable("idp", type(exc).__name__) from exc
        if response.status_code != 200:
            raise SignInFailed(response.text[:200])
        return str(response.json()["access_token"])


class ClientToken:
    """A token of this workbench's own client (client credentials), for the calls it
    makes on behalf of citizens, who have none: kept until shortly before it ends."""

    # Asked for again this long before it runs out, so a call never carries a dead one.
    MARGIN_S = 60.0

    def __init__(
        self, http: httpx.AsyncClient, issuer: str, client_id: str, secret: str, role: str
    ) -> None:
        self.http = http
        self.url = issuer.rstrip("/") + "/token"
        self.auth = (client_id, secret)
        self.role = role
        self._token: str | None = None
        self._until = 0.0

    async def get(self) -> str:
        now = time.monotonic()
        if self._token is not None and now < self._until:
            return self._token
        try:
            response = await self.http.post(
                self.url,
                data={"grant_type": "client_credentials", "role": self.role},
                auth=self.auth,
            )
        except httpx.HTTPError as exc:
            raise ServiceUnavailable("idp", type(exc).__name__) from exc
        if response.status_code != 200:
            raise ServiceUnavailable("idp", f"client token refused ({response.status_code})")
        body = response.json()
        self._token = str(body["access_token"])
        self._until = now + max(0.0, float(body.get("expires_in", 300)) - self.MARGIN_S)
        return self._token
