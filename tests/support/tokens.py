from __future__ import annotations

from chassis.auth import mint_token


def bearer(
    key: str, subject: str, *roles: str, agency: str | None = None, scopes: tuple[str, ...] = ()
) -> dict[str, str]:
    """An Authorization header with a token signed by ``key`` (the session's private
    signing key, see the ``jwt_secret`` fixture)."""
    token = mint_token(key, subject, roles, agency=agency, scopes=scopes)
    return {"Authorization": f"Bearer {token}"}
