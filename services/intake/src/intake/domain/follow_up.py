"""The second factor a citizen shows to follow a dossier: a secret or the phone number.

The follow-up secret is printed on the receipt once. It is derived from a server key and
the dossier id, so a retried submission (same Idempotency-Key) gets the same receipt with
the same secret without intake ever storing the secret: the store keeps a hash only.
125 bits drawn this way need no key stretching; the phone number, which has few
possibilities, is hashed with the server key so a copy of the store alone cannot be
searched for it.

Every check does the same work whether or not the receipt code exists, and compares in
constant time, so neither the answer nor its timing tells a guesser which codes exist.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from intake.domain.receipt import ALPHABET

__all__ = [
    "SECRET_LENGTH",
    "FollowUpKeys",
    "normalise_secret",
    "second_factor_matches",
    "secret_hash",
]

SECRET_LENGTH = 25
_GROUP = 5
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−_.]+")
_CONFUSIONS = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SECRET_LABEL = b"hoso/intake/follow-up-secret/v1"
_HASH_LABEL = b"hoso/intake/follow-up-secret-hash/v1"
_PHONE_LABEL = b"hoso/intake/phone/v1"
_KEY_LABEL = b"hoso/intake/follow-up-key/v1"
# Stands in for a stored hash when the receipt code is unknown, so the comparison still
# runs; no input hashes to it.
DUMMY_HASH = "0" * 64
# Stands in for the dossier id when the code is unknown: the phone hash is computed all
# the same.
NO_DOSSIER = "00000000-0000-0000-0000-000000000000"


def _encode(data: bytes, length: int) -> str:
    number = int.from_bytes(data, "big")
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 32)
        chars.append(ALPHABET[digit])
    return "".join(chars)


def normalise_secret(text: str) -> str:
    """The secret as typed, read the way the receipt alphabet reads it."""
    compact = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text)).upper()
    return compact.translate(_CONFUSIONS)


def secret_hash(secret: str) -> str:
    """What the store keeps of a follow-up secret."""
    normalised = normalise_secret(secret).encode()
    return hashlib.sha256(_HASH_LABEL + b"\0" + normalised).hexdigest()


class FollowUpKeys:
    """Derives follow-up secrets and phone hashes from one server key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the follow-up key must have at least 16 bytes")
        self._key = key

    @classmethod
    def from_secret(cls, secret: str, *, derived: bool) -> FollowUpKeys:
        """``derived``: the secret serves another purpose too, so a key of its own is
        derived from it under a label."""
        raw = secret.encode()
        if derived:
            raw = hmac.new(raw, _KEY_LABEL, hashlib.sha256).digest()
        return cls(raw)

    def secret_for(self, dossier_id: str) -> str:
        digest = hmac.new(self._key, _SECRET_LABEL + b"\0" + dossier_id.encode(), "sha256")
        plain = _encode(digest.digest(), SECRET_LENGTH)
        return "-".join(plain[i : i + _GROUP] for i in range(0, SECRET_LENGTH, _GROUP))

    def phone_hash(self, dossier_id: str, phone_e164: str) -> str:
        message = _PHONE_LABEL + b"\0" + dossier_id.encode() + b"\0" + phone_e164.encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    @staticmethod
    def matches(stored: str | None, offered: str) -> bool:
        """Constant-time comparison; a missing stored hash never matches."""
        same = hmac.compare_digest((stored or DUMMY_HASH).encode(), offered.encode())
        return same and stored is not None


def second_factor_matches(
    keys: FollowUpKeys,
    found: Mapping[str, Any] | None,
    secret: str | None,
    phone_e164: str | None,
) -> bool:
    """Whether the secret (or, without one, the phone number) opens the submission
    ``found`` by its receipt code. When nothing was found the very same hash is computed
    and compared against a stand-in, so an unknown code costs what a wrong secret costs."""
    stored = found or {}
    if secret:
        return FollowUpKeys.matches(stored.get("secret_hash"), secret_hash(secret))
    if phone_e164 is None:
        raise ValueError("a secret or a phone number is needed")
    dossier_id = str(stored.get("_id", NO_DOSSIER))
    return FollowUpKeys.matches(stored.get("phone_hash"), keys.phone_hash(dossier_id, phone_e164))
