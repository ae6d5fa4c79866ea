"""A denouncer's identity, sealed inside intake (Law on Denunciation 2018, art. 47).

The identity is encrypted with Fernet (AES-128-CBC and HMAC-SHA256, authenticated) under
a key from settings and stored only in intake's own store; events carry a pseudonym.
Only an officer with the ``identity:resolve`` clearance can have it opened.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass

from cryptography.fernet import Fernet, InvalidToken

__all__ = [
    "PSEUDONYM_PREFIX",
    "IdentitySeal",
    "SealedIdentity",
    "UnreadableIdentity",
    "new_pseudonym",
]

PSEUDONYM_PREFIX = "den-"


def new_pseudonym() -> str:
    """An opaque name for a denouncer: 80 random bits, nothing derived from the person."""
    return PSEUDONYM_PREFIX + secrets.token_hex(10)


@dataclass(frozen=True)
class SealedIdentity:
    """The fields that identify a denouncer; all of them are encrypted together."""

    name: str
    id_number: str
    address: str | None
    phone: str | None
    email: str | None


class UnreadableIdentity(Exception):
    """The ciphertext was not made with this key or was altered."""


class IdentitySeal:
    def __init__(self, key: str) -> None:
        # Fernet raises ValueError for a key that is not 32 url-safe base64 bytes.
        self._fernet = Fernet(key.encode())

    def seal(self, identity: SealedIdentity) -> str:
        plain = json.dumps(asdict(identity), ensure_ascii=False, separators=(",", ":"))
        return self._fernet.encrypt(plain.encode()).decode()

    def open(self, token: str) -> SealedIdentity:
        try:
            plain = self._fernet.decrypt(token.encode())
        except InvalidToken:
            raise UnreadableIdentity("the identity cannot be decrypted with this key") from None
        return SealedIdentity(**json.loads(plain))
