"""Unit tests build the settings they need themselves: a shell that sourced the local
stack's exports (`deploy/local.py env`, `.local/env`) must not hand them an identity
provider, which would check every token the tests mint against the wrong issuer."""

from __future__ import annotations

import pytest

_DEPLOYMENT_IDENTITY = ("JWT_JWKS_URL", "JWT_JWKS_FILE", "JWT_ISSUER", "JWT_AUDIENCE")


@pytest.fixture(autouse=True)
def _no_deployment_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _DEPLOYMENT_IDENTITY:
        monkeypatch.delenv(name, raising=False)
