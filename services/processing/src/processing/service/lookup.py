"""Finding a dossier by the applicant's phone or ID number without keeping them for it.

The search matches a keyed hash (HMAC-SHA256 under ``PROCESSING_SEARCH_KEY``) of the
normalised number: the dossier stores only the hashes, so a copy of the database, a
log or an index lists no phone or ID number, and without the key nobody can test
guesses against the hashes. Each hash names what it is of, so a phone number never
matches an ID number that happens to have the same digits.
"""

from __future__ import annotations

import hashlib
import hmac

import phonenumbers

__all__ = ["ApplicantLookup", "InvalidLookup", "normalise_id_number", "normalise_phone"]


class InvalidLookup(ValueError):
    """A phone or ID number that cannot be anybody's."""

    def __init__(self, field_name: str, message: str) -> None:
        self.field_name = field_name
        super().__init__(message)


def normalise_phone(value: str) -> str:
    """E.164 (+84…), as intake keeps it; a national 0… number is read as Vietnamese."""
    try:
        number = phonenumbers.parse(value, "VN")
    except phonenumbers.NumberParseException as exc:
        raise InvalidLookup("phone", "not a phone number") from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidLookup("phone", "not a phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_id_number(value: str) -> str:
    """The digits of a citizen ID (CCCD) or tax code: spaces, dots and dashes go."""
    digits = "".join(c for c in value if c.isascii() and c.isdigit())
    if not digits or any(c.isalnum() and not (c.isascii() and c.isdigit()) for c in value):
        raise InvalidLookup("id_number", "an ID number is digits only")
    return digits


class ApplicantLookup:
    """The keyed hashes of an applicant's numbers; without a key, none (the search by
    phone or ID number is then unavailable)."""

    def __init__(self, key: bytes | None) -> None:
        self._key = key

    @property
    def available(self) -> bool:
        return self._key is not None

    def _hash(self, kind: str, value: str) -> str:
        assert self._key is not None
        return hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()

    def phone(self, value: str) -> str:
        return self._hash("phone", normalise_phone(value))

    def id_number(self, value: str) -> str:
        return self._hash("id", normalise_id_number(value))

    def of_applicant(self, phone: str | None, id_number: str | None) -> list[str]:
        """The hashes to store with a dossier; a number that does not parse is skipped
        (intake has checked it; nothing is lost but the search by it)."""
        if self._key is None:
            return []
        hashes: list[str] = []
        for value, hasher in ((phone, self.phone), (id_number, self.id_number)):
            if value:
                try:
                    hashes.append(hasher(value))
                except InvalidLookup:
                    continue
        return hashes
