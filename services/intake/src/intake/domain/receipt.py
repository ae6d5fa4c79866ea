"""Receipt codes (mã hồ sơ) that a citizen can read out over the phone.

Format: ``{PREFIX}-{YYMMDD}-{RANDOM}{CHECK}``, e.g. ``MT-261126-7KQ4XP``.

* PREFIX: the receiving agency's 2-4 letter receipt prefix.
* YYMMDD: the date of receipt.
* RANDOM: 5 characters drawn with ``secrets`` from a 32-character alphabet (digits and
  upper-case letters without I, L, O, U, as in Crockford's Base32), i.e. 25 bits:
  33,554,432 possible codes per prefix and day. Somebody guessing codes of a prefix
  and day on which the agency received 1,000 dossiers hits one with probability about
  3·10⁻⁵ per try, and needs some 33,000 tries per hit, which the rate limit of the public
  status look-up makes impractical. The same 25 bits make two dossiers of one prefix
  and day share a code with probability about 1.5 % on a 1,000-dossier day, so the
  code must be stored under a uniqueness constraint and drawn again on conflict.
* CHECK: one character over prefix, date and random part (hyphens ignored).

Why this check character and not ISO/IEC 7064 MOD 37,36: the hybrid MOD M+1,M systems
let one pair of adjacent transpositions through for every running state (for M = 36,
2 of the 1,260 swaps of two different characters at the start of a code go unnoticed),
and their check alphabet 0-9A-Z brings back I, L, O and U, which are exactly the
characters we fold away when reading a code back. Instead every character of the whole
code, check included, is one of the 32 alphabet symbols, taken as an element of the
field GF(32) = GF(2)[x]/(x⁵ + x² + 1), and a code v₁ … vₙ is valid when

    S = v₁·xⁿ⁻¹ + v₂·xⁿ⁻² + … + vₙ₋₁·x + vₙ = 0   (computed by Horner's rule).

This is Damm's construction over the quasigroup a∘b = x·a + b. Proof of detection:

* Single substitution at position i, old value v, new value w ≠ v: S changes by
  (v + w)·xⁿ⁻ⁱ. Both factors are non-zero and a field has no zero divisors, so S ≠ 0.
* Transposition of two different characters at positions i < j: S changes by
  (vᵢ + vⱼ)·(xⁿ⁻ⁱ + xⁿ⁻ʲ) = (vᵢ + vⱼ)·xⁿ⁻ʲ·(xʲ⁻ⁱ + 1). The multiplicative group of GF(32)
  has the prime order 31, so x has order 31 and xᵈ ≠ 1 for 0 < d < 31. A code has at
  most 16 characters, hence every factor is non-zero and S ≠ 0. This covers adjacent
  swaps, swaps involving the check character and swaps across a hyphen alike.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Callable
from datetime import date, datetime

__all__ = [
    "ALPHABET",
    "RANDOM_LENGTH",
    "check_character",
    "is_valid_receipt_code",
    "new_receipt_code",
    "normalise_receipt_code",
]

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RANDOM_LENGTH = 5

_VALUE = {char: value for value, char in enumerate(ALPHABET)}
# x⁵ + x² + 1, a primitive polynomial over GF(2).
_MODULUS = 0b100101
_FIELD_SIZE = 32
_PREFIX_LETTERS = "".join(char for char in ALPHABET if char.isalpha())
_PREFIX_RE = re.compile(f"[{_PREFIX_LETTERS}]{{2,4}}")
_COMPACT_RE = re.compile(
    f"(?P<prefix>[{_PREFIX_LETTERS}]{{2,4}})(?P<day>[0-9]{{6}})"
    f"(?P<random>[{ALPHABET}]{{{RANDOM_LENGTH}}})(?P<check>[{ALPHABET}])"
)
# Read aloud or typed from a printed slip, these are the usual mix-ups.
_CONFUSIONS = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−_.]+")


def _times_x(value: int) -> int:
    value <<= 1
    if value & _FIELD_SIZE:
        value ^= _MODULUS
    return value


def _syndrome(chars: str) -> int:
    total = 0
    for char in chars:
        total = _times_x(total) ^ _VALUE[char]
    return total


def _compact(text: str) -> str:
    return _SEPARATORS.sub("", text)


def check_character(body: str) -> str:
    """The check character for ``body`` (prefix, date and random part; hyphens ignored)."""
    compact = _compact(body).upper()
    unknown = sorted({char for char in compact if char not in _VALUE})
    if unknown:
        raise ValueError(f"characters outside the receipt alphabet: {''.join(unknown)}")
    if not compact:
        raise ValueError("empty receipt code body")
    # Appending c turns S into x·S + c; c = x·S makes that zero (addition is XOR).
    return ALPHABET[_times_x(_syndrome(compact))]


# Each character of the alphabet (32 of them) is 5 bits.
_CHAR_BITS = 5
_CHAR_MASK = (1 << _CHAR_BITS) - 1


def _secret_characters(length: int) -> str:
    # One draw for the whole code rather than one a character: each draw of the system's
    # randomness is a system call.
    bits = secrets.randbits(_CHAR_BITS * length)
    return "".join(ALPHABET[(bits >> (_CHAR_BITS * i)) & _CHAR_MASK] for i in range(length))


def new_receipt_code(
    prefix: str,
    day: date,
    rng: Callable[[int], str] | None = None,
) -> str:
    """A fresh receipt code for a dossier received by the agency ``prefix`` on ``day``.

    ``rng(n)`` must return ``n`` characters of ``ALPHABET``; it defaults to ``secrets``
    and is meant to be replaced only in tests.
    """
    if not _PREFIX_RE.fullmatch(prefix):
        raise ValueError(
            f"receipt prefix must be 2-4 letters from {_PREFIX_LETTERS!r}, got {prefix!r}"
        )
    if isinstance(day, datetime):
        raise TypeError("the receipt day must be a date in local time, not a datetime")
    random_part = (rng or _secret_characters)(RANDOM_LENGTH)
    if len(random_part) != RANDOM_LENGTH or any(char not in _VALUE for char in random_part):
        raise ValueError(
            f"random part must be {RANDOM_LENGTH} characters of the alphabet, got {random_part!r}"
        )
    stamp = day.strftime("%y%m%d")
    check = check_character(prefix + stamp + random_part)
    return f"{prefix}-{stamp}-{random_part}{check}"


def normalise_receipt_code(code: str) -> str:
    """The canonical ``PREFIX-YYMMDD-RANDOMCHECK`` spelling of a code as a person typed it.

    Case, spaces, hyphens and full-width characters are ignored, and O, I and L are read
    as 0, 1 and 1. Raises ``ValueError`` when the result does not have the shape of a
    receipt code; the check character is not verified here.
    """
    compact = _compact(unicodedata.normalize("NFKC", code)).upper().translate(_CONFUSIONS)
    match = _COMPACT_RE.fullmatch(compact)
    if match is None:
        raise ValueError(f"not a receipt code: {code!r}")
    return f"{match['prefix']}-{match['day']}-{match['random']}{match['check']}"


def is_valid_receipt_code(code: str) -> bool:
    """Whether ``code`` is a well-formed receipt code with a real date and a correct check."""
    try:
        canonical = normalise_receipt_code(code)
    except ValueError:
        return False
    stamp = canonical.split("-")[1]
    try:
        date(2000 + int(stamp[:2]), int(stamp[2:4]), int(stamp[4:]))
    except ValueError:
        return False
    return _syndrome(_compact(canonical)) == 0
