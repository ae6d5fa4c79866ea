"""No token signing key outside the identity provider's own folder: not in the services'
environment as the launcher writes it, as the tests give it or as docker-compose gives
it, and not in any file of the repository."""

from __future__ import annotations

import base64
import json
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from tests.integration.auth.conftest import ROOT, Idp
from tests.support.infra import load_launcher
from tests.support.services import SERVICES, service_env

PEM_PRIVATE = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\sA-Za-z0-9+/=\\n]{40,}-----END", re.S
)
JWK_PRIVATE = re.compile(r"""["']d["']\s*:\s*["'][A-Za-z0-9_-]{32,}""")


def _idp_secrets(idp: Idp) -> list[str]:
    """Every encoding of the provider's private keys a leak could take."""
    found = []
    for record in json.loads((idp.directory / "keys.json").read_text())["keys"]:
        key = serialization.load_pem_private_key(record["private_pem"].encode(), None)
        raw = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        body = "".join(record["private_pem"].strip().splitlines()[1:-1])
        found += [
            body,
            base64.b64encode(raw).decode(),
            base64.urlsafe_b64encode(raw).rstrip(b"=").decode(),
            raw.hex(),
        ]
    return found


def _leaks(where: str, text: str, idp_secrets: list[str]) -> list[str]:
    found = []
    if PEM_PRIVATE.search(text):
        found.append(f"{where}: a PEM private key")
    if JWK_PRIVATE.search(text):
        found.append(f"{where}: a JWK with a private member d")
    found += [f"{where}: the identity provider's key" for s in idp_secrets if s in text]
    return found


def _environment_leaks(where: str, env: dict[str, Any], idp_secrets: list[str]) -> list[str]:
    return [
        leak
        for name, value in env.items()
        for leak in _leaks(f"{where} {name}", str(value), idp_secrets)
    ]


def test_the_detectors_find_what_they_look_for(idp: Idp, jwt_secret: str) -> None:
    # The session's own signing key is exactly what must never reach a service.
    secrets_ = _idp_secrets(idp)
    assert _leaks("k", jwt_secret, [])
    assert _leaks("k", jwt_secret.replace("\n", "\\n"), [])
    private_jwk = '{"kty": "OKP", "crv": "Ed25519", "x": "abc", "d": "' + "A" * 43 + '"}'
    assert _leaks("k", private_jwk, [])
    assert _leaks("k", f"SOME_KEY={secrets_[1]}", secrets_)
    assert not _leaks("k", json.dumps({"keys": [{"kty": "OKP", "x": "A" * 43}]}), secrets_)


def test_the_identity_providers_folder_is_its_own(idp: Idp) -> None:
    assert stat.S_IMODE(idp.directory.stat().st_mode) == 0o700
    for name in ("keys.json", "clients.json", "developer.json", "status.json"):
        assert stat.S_IMODE((idp.directory / name).stat().st_mode) == 0o600, name
    clients = (idp.directory / "clients.json").read_text()
    for name in ("developer", "status"):
        secret = json.loads((idp.directory / f"{name}.json").read_text())["client_secret"]
        assert secret not in clients  # the registry keeps hashes only


def test_the_launchers_service_environment_holds_no_signing_key(idp: Idp, tmp_path: Path) -> None:
    launcher = load_launcher()
    lay = launcher.Layout(tmp_path)
    # A .local/env from before: its shared token secret must not survive.
    (tmp_path / "env").write_text("JWT_SECRET=an-old-shared-secret\nLOG_JSON=true\n")
    endpoints = {
        "kafka": "127.0.0.1:9092",
        "mongodb": "mongodb://127.0.0.1:27017",
        "smtp": "127.0.0.1:1025",
        "smtp_http": "http://127.0.0.1:8025",
        "zipkin": "http://127.0.0.1:9411",
        "idp": idp.url,
    }
    launcher.write_service_env(lay, endpoints)
    text = launcher.env_file(lay).read_text()
    values = launcher.services._read_env_file(launcher.env_file(lay))
    assert values["JWT_JWKS_URL"] == idp.jwks_url
    assert values["JWT_ISSUER"] == idp.url
    assert len(values["INTAKE_FOLLOW_UP_KEY"]) >= 32
    assert "JWT_SECRET" not in text
    assert not _leaks(".local/env", text, _idp_secrets(idp))
    # What a service process is started with: the environment file and nothing of the IdP.
    _, env = launcher.Service(lay, "audit").command({"port": 8004})
    assert not _environment_leaks("audit process", env, _idp_secrets(idp))


def test_the_tests_and_compose_give_services_no_signing_key(
    idp: Idp, base_env: dict[str, str], run_id: str, jwt_secret: str
) -> None:
    secrets_ = [*_idp_secrets(idp), jwt_secret.strip()]
    leaks = _environment_leaks("base_env", base_env, secrets_)
    for name in SERVICES:
        leaks += _environment_leaks(name, service_env(base_env, run_id, name, {}), secrets_)
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name in SERVICES:
        environment = compose["services"][name]["environment"]
        leaks += _environment_leaks(f"compose {name}", environment, secrets_)
        assert "JWT_JWKS_URL" in environment
    assert not leaks, leaks
    assert "JWT_JWKS_FILE" in base_env


def test_no_file_of_the_repository_holds_a_private_key(idp: Idp) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    leaks: list[str] = []
    for name in sorted(set(listed.stdout.decode().split("\0")) - {""}):
        path = ROOT / name
        if name.startswith(".local/") or not path.is_file() or path.stat().st_size > 4 << 20:
            continue
        text = path.read_bytes().decode("utf-8", "ignore")
        leaks += _leaks(name, text, _idp_secrets(idp))
    assert not leaks, leaks
