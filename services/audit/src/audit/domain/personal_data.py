"""Personal data inside audit entries: encrypted before sealing, revealed only with clearance.

What counts as personal
-----------------------
A value is personal when its key names a person's identity or contact: the applicant's
``name``, ``id_number``, ``email``, ``phone`` and ``address``, the recipient's
``display_name``, ``email`` and ``phone``, anything named like those in free-form data
(``contact_email``, ``so_dien_thoai``, ``dia_chi``, ``cccd`` …; see ``is_personal_key``), and
the ``content`` a citizen writes in a petition, complaint or denunciation. A
string under any other key is treated as personal too when it contains something that looks
like an email address, a phone number or an ID number (``chassis.privacy.scrub`` would change
it), because citizens type those into notes and forms.

Sealing
-------
``PersonalDataCipher.protect`` runs before an entry is sealed. Each personal value becomes the
string ``"pii:v1:" + Fernet token`` of its JSON form, so the entry hash covers the ciphertext:
an auditor verifies the log without ever holding plaintext, and destroying the key later
erases the personal data without breaking the chain. Without a key (a development set-up) the
values are irreversibly masked instead. ``protect`` also makes the data storable and hashable:
object keys the store refuses (a ``.``, a leading ``$``, NUL) are percent-escaped, integers
beyond JSON's exact range and non-finite floats become strings, and lone surrogates become
U+FFFD.

Reading
-------
``PersonalDataCipher.reveal`` turns a sealed payload into what an auditor reads: plaintext for
a caller holding the ``audit:pii`` clearance, masked values for everyone else (emails and
phone numbers partly masked, ID numbers, names and addresses ``"[redacted]"``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from audit.domain.canonical import MAX_SAFE_INTEGER
from chassis.privacy import mask_email, mask_phone, scrub

__all__ = [
    "ENCRYPTED_PREFIX",
    "REDACTED",
    "PersonalDataCipher",
    "is_personal_key",
]

ENCRYPTED_PREFIX: Final = "pii:v1:"
REDACTED: Final = "[redacted]"
UNDECRYPTABLE: Final = "[undecryptable]"

# Keys that are personal wherever they appear (after lower-casing, "-" read as "_").
_PERSONAL_KEYS: Final = frozenset(
    {
        "name",
        "full_name",
        "display_name",
        "first_name",
        "last_name",
        "ho_ten",
        "ho_va_ten",
        "date_of_birth",
        "birth_date",
        "ngay_sinh",
        "portal_account",
        # A citizen's own words in a petition, complaint or denunciation: free text that
        # may name the writer, which no pattern can find.
        "content",
    }
)
# Keys ending in one of these (``contact_email``, ``so_cccd``) are personal too.
_PERSONAL_SUFFIXES: Final = (
    "email",
    "phone",
    "phone_number",
    "mobile",
    "address",
    "id_number",
    "citizen_id",
    "cccd",
    "cmnd",
    "dien_thoai",
    "dia_chi",
)
_EMAIL_LIKE: Final = re.compile(r"^[^@\s]+@[^@\s]+$")
_SURROGATE: Final = re.compile(r"[\ud800-\udfff]")
_ESCAPE: Final = re.compile(r"%(25|2E|00|24)")
_UNESCAPED: Final = {"25": "%", "2E": ".", "00": "\x00", "24": "$"}


def _normal_key(key: str) -> str:
    return key.lower().replace("-", "_")


def is_personal_key(key: str | None) -> bool:
    """True when a value stored under ``key`` identifies or reaches a person."""
    if not key:
        return False
    name = _normal_key(key)
    if name in _PERSONAL_KEYS:
        return True
    return any(name == s or name.endswith("_" + s) for s in _PERSONAL_SUFFIXES)


def _is_phone_key(key: str | None) -> bool:
    name = _normal_key(key or "")
    return any(part in name for part in ("phone", "mobile", "dien_thoai"))


def _escape_key(key: str) -> str:
    # Percent-escaping keeps keys readable and reversible; "%" itself is escaped first.
    escaped = key.replace("%", "%25").replace(".", "%2E").replace("\x00", "%00")
    if escaped.startswith("$"):
        escaped = "%24" + escaped[1:]
    return _clean_text(escaped)


def _unescape_key(key: str) -> str:
    if "%" not in key:
        return key
    return _ESCAPE.sub(lambda match: _UNESCAPED[match.group(1)], key)


def _clean_text(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def _jsonable(value: Any) -> Any:
    """The value as canonical JSON can carry it (see the module docstring)."""
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {_escape_key(str(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return _clean_text(str(value))


def _mask(plain: Any, key: str | None) -> Any:
    """What a reader without clearance sees instead of ``plain``."""
    if not isinstance(plain, str):
        return REDACTED
    if is_personal_key(key):
        if _EMAIL_LIKE.match(plain.strip()):
            return mask_email(plain.strip())
        if _is_phone_key(key):
            return mask_phone(plain)
        return REDACTED
    # Not personal by name but caught by the pattern net: mask only what matched.
    return scrub(plain)


class PersonalDataCipher:
    """Encrypts personal values for sealing and reveals or masks them for reading.

    ``keys`` are Fernet keys; the first encrypts, all decrypt, so a key can be rotated by
    putting the new one first. With no key, personal values are masked at sealing time.
    """

    def __init__(self, keys: Iterable[str | bytes] = ()) -> None:
        fernets = [Fernet(k) for k in keys]
        self._cipher: MultiFernet | None = MultiFernet(fernets) if fernets else None

    @classmethod
    def from_setting(cls, value: str | None) -> PersonalDataCipher:
        """Keys from a setting: comma- or whitespace-separated, the encrypting key first."""
        if not value:
            return cls()
        return cls(k for k in re.split(r"[,\s]+", value.strip()) if k)

    @property
    def encrypts(self) -> bool:
        return self._cipher is not None

    # ------------------------------------------------------------------ sealing

    def protect(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The payload to seal: personal values encrypted (or masked), the rest storable."""
        return {_escape_key(str(k)): self._protect(v, str(k)) for k, v in data.items()}

    def protect_change(self, change: Mapping[str, Any]) -> dict[str, Any]:
        """A ``{field, old, new}`` change; the last segment of ``field`` names the value."""
        field = _clean_text(str(change.get("field", "")))
        key = field.rsplit(".", 1)[-1]
        return {
            "field": field,
            "old": self._protect(change.get("old"), key),
            "new": self._protect(change.get("new"), key),
        }

    def _protect(self, value: Any, key: str | None) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if is_personal_key(key):
            return self._seal(value, key)
        if isinstance(value, Mapping):
            return {_escape_key(str(k)): self._protect(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._protect(v, key) for v in value]
        if isinstance(value, str) and (value.startswith(ENCRYPTED_PREFIX) or scrub(value) != value):
            # A string that merely looks like ciphertext is sealed too, so the prefix
            # always means "encrypted by this service".
            return self._seal(value, key)
        return _jsonable(value)

    def _seal(self, value: Any, key: str | None) -> str:
        plain = _jsonable(value)
        if self._cipher is None:
            masked = _mask(plain, key)
            return masked if not masked.startswith(ENCRYPTED_PREFIX) else REDACTED
        token = self._cipher.encrypt(json.dumps(plain, ensure_ascii=False).encode("utf-8"))
        return ENCRYPTED_PREFIX + token.decode("ascii")

    # ------------------------------------------------------------------ reading

    def reveal(self, data: Mapping[str, Any], *, cleared: bool) -> dict[str, Any]:
        """A sealed payload as a reader sees it: plaintext with clearance, masked without."""
        return {
            _unescape_key(k): self._reveal(v, _unescape_key(k), cleared) for k, v in data.items()
        }

    def reveal_change(self, change: Mapping[str, Any], *, cleared: bool) -> dict[str, Any]:
        field = str(change.get("field", ""))
        key = field.rsplit(".", 1)[-1]
        return {
            "field": field,
            "old": self._reveal(change.get("old"), key, cleared),
            "new": self._reveal(change.get("new"), key, cleared),
        }

    def _reveal(self, value: Any, key: str | None, cleared: bool) -> Any:
        if isinstance(value, str):
            if not value.startswith(ENCRYPTED_PREFIX):
                return value
            plain = self._decrypt(value)
            if plain is _UNREADABLE:
                return UNDECRYPTABLE if cleared else REDACTED
            return plain if cleared else _mask(plain, key)
        if isinstance(value, Mapping):
            return {
                _unescape_key(k): self._reveal(v, _unescape_key(k), cleared)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self._reveal(v, key, cleared) for v in value]
        return value

    def _decrypt(self, value: str) -> Any:
        if self._cipher is None:
            return _UNREADABLE
        try:
            plain = self._cipher.decrypt(value[len(ENCRYPTED_PREFIX) :].encode("ascii"))
            return json.loads(plain)
        except (InvalidToken, UnicodeEncodeError, ValueError):
            return _UNREADABLE


_UNREADABLE: Final = object()
