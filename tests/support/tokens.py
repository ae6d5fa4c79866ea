from __future__ import annotations

from chassis.auth import mint_token


def bearer(
    secret: str, subject: str, *roles: str, agency: str | None = None, scopes: tuple[str, ...] = ()
) -> dict[str, str]:
    token = mint_token(secret, subject, roles, agency=agency, scopes=scopes)
    return {"Authorization": f"Bearer {token}"}
