"""The identity provider's sign-in for people: authorization code with PKCE (S256), users
with scrypt-hashed passwords, codes good once for a minute."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import stat
import subprocess
import sys

import httpx
import jwt

from tests.integration.auth.conftest import SERVER, Idp

CLIENT = "hoso-workbench"
# A loopback redirect URI on another port than the registered one: RFC 8252 §7.3.
REDIRECT = "http://127.0.0.1:45678/auth/callback"


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _authorize(challenge: str, **extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": CLIENT,
        "redirect_uri": REDIRECT,
        "state": "s-" + secrets.token_hex(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }


def _add_user(idp: Idp, username: str, password: str, *roles: str, agency: str = "") -> None:
    client = idp.credentials("developer")
    answer = httpx.post(
        f"{idp.url}/users",
        data={"username": username, "password": password, "role": " ".join(roles)}
        | ({"agency": agency} if agency else {}),
        auth=(client.client_id, client.client_secret),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def _sign_in(idp: Idp, params: dict[str, str], username: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{idp.url}/authorize",
        data=params | {"username": username, "password": password},
        timeout=10,
    )


def _code(response: httpx.Response, state: str) -> str:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    query = dict(p.split("=", 1) for p in location.split("?", 1)[1].split("&"))
    assert query["state"] == state
    return query["code"]


def _exchange(idp: Idp, code: str, verifier: str) -> httpx.Response:
    return httpx.post(
        f"{idp.url}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": CLIENT,
            "code_verifier": verifier,
        },
        timeout=10,
    )


def test_discovery_names_the_authorization_endpoint_and_s256(idp: Idp) -> None:
    discovery = httpx.get(f"{idp.url}/.well-known/openid-configuration").json()
    assert discovery["authorization_endpoint"] == f"{idp.url}/authorize"
    assert discovery["code_challenge_methods_supported"] == ["S256"]
    assert "authorization_code" in discovery["grant_types_supported"]


def test_a_person_signs_in_and_the_token_carries_roles_agency_and_an_opaque_subject(
    idp: Idp,
) -> None:
    _add_user(idp, "lan.officer", "correct horse 1", "officer", agency="STNMT-MT")
    verifier, challenge = _pkce()
    params = _authorize(challenge)
    form = httpx.get(f"{idp.url}/authorize", params=params, timeout=10)
    assert form.status_code == 200
    assert 'autocomplete="current-password"' in form.text
    assert "frame-ancestors 'none'" in form.headers["content-security-policy"]

    code = _code(_sign_in(idp, params, "lan.officer", "correct horse 1"), params["state"])
    answer = _exchange(idp, code, verifier)
    assert answer.status_code == 200, answer.text
    claims = jwt.decode(answer.json()["access_token"], options={"verify_signature": False})
    assert claims["roles"] == ["officer"]
    assert claims["agency"] == "STNMT-MT"
    assert claims["sub"].startswith("u-")
    assert "lan" not in claims["sub"]
    # Single use: the same code a second time is refused.
    assert _exchange(idp, code, verifier).json()["error"] == "invalid_grant"


def test_a_wrong_verifier_or_password_gets_nothing(idp: Idp) -> None:
    _add_user(idp, "minh.leader", "correct horse 2", "leader", agency="STNMT-MT")
    verifier, challenge = _pkce()
    params = _authorize(challenge)
    wrong = _sign_in(idp, params, "minh.leader", "not the password")
    assert wrong.status_code == 401
    assert 'role="alert"' in wrong.text
    assert "location" not in wrong.headers

    code = _code(_sign_in(idp, params, "minh.leader", "correct horse 2"), params["state"])
    other_verifier, _ = _pkce()
    refused = _exchange(idp, code, other_verifier)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    # The failed try used the code up.
    assert _exchange(idp, code, verifier).status_code == 400


def test_an_unregistered_redirect_or_a_plain_challenge_is_refused_on_the_providers_page(
    idp: Idp,
) -> None:
    _, challenge = _pkce()
    for bad in (
        {"redirect_uri": "https://evil.example/auth/callback"},
        {"redirect_uri": "http://127.0.0.1:45678/elsewhere"},
        {"code_challenge_method": "plain"},
        {"client_id": "developer"},
    ):
        page = httpx.get(f"{idp.url}/authorize", params=_authorize(challenge) | bad, timeout=10)
        assert page.status_code == 400, bad
        assert "location" not in page.headers


def test_default_users_have_hashed_passwords_and_a_private_clear_copy(idp: Idp) -> None:
    users = json.loads((idp.directory / "users.json").read_text())
    clear = json.loads((idp.directory / "passwords.json").read_text())
    assert {"desk.mt", "officer.mt", "leader.mt", "officer.vpdk", "leader.vpdk"} <= set(users)
    assert {"auditor", "operator"} <= set(users)
    for username, password in clear.items():
        assert password not in json.dumps(users[username])
        assert users[username]["password"]["scheme"] == "scrypt"
    mode = stat.S_IMODE((idp.directory / "passwords.json").stat().st_mode)
    assert mode == 0o600


def test_the_add_user_command_writes_a_user_a_running_provider_signs_in(idp: Idp) -> None:
    done = subprocess.run(
        [
            *(sys.executable, str(SERVER), "add-user", "--dir", str(idp.directory)),
            *("--username", "an.auditor", "--password", "correct horse 3", "--role", "auditor"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert re.search(r'"sub": "u-[0-9a-f]{16}"', done.stdout)
    verifier, challenge = _pkce()
    params = _authorize(challenge, ui_locales="en")
    response = _sign_in(idp, params, "an.auditor", "correct horse 3")
    token = _exchange(idp, _code(response, params["state"]), verifier).json()["access_token"]
    assert jwt.decode(token, options={"verify_signature": False})["roles"] == ["auditor"]
