"""Cross-site request forgery: every form carries the session's token in a hidden field,
and a POST without the very same token is refused. The token is random per session and
lives only in the encrypted session cookie, which another site can neither read nor set."""

from __future__ import annotations

import hmac
import secrets

FIELD = "csrf_token"
_BYTES = 32


def new_token() -> str:
    return secrets.token_urlsafe(_BYTES)


def accepts(expected: str | None, offered: object) -> bool:
    """The form's token is the session's: constant-time, and never for an empty one."""
    if not expected or not isinstance(offered, str) or not offered:
        return False
    return hmac.compare_digest(expected.encode(), offered.encode())
