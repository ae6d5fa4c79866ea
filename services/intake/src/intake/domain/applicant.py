"""Who may apply: identity numbers and phone numbers as Vietnamese agencies know them."""

from __future__ import annotations

import re

import phonenumbers

__all__ = [
    "CITIZEN_ID_RE",
    "PHONE_TEXT_RE",
    "TAX_CODE_RE",
    "normalise_phone",
    "normalise_tax_code",
]

# Python's \d is any Unicode decimal digit: "００１…" (full-width) or "٠٠١…"
# (Arabic-Indic) would pass it and be stored and published as sent. Agencies' registers
# know ASCII digits only, so every pattern here spells them out as [0-9].

# Căn cước công dân: 12 digits (province of birth, sex and century, year, serial).
CITIZEN_ID_RE = re.compile(r"^[0-9]{12}$")
# Mã số thuế: 10 digits for an enterprise, 13 (10 + a 3-digit unit number) for a branch
# or dependent unit, usually printed as 0101234567-001.
TAX_CODE_RE = re.compile(r"^[0-9]{10}(?:-?[0-9]{3})?$")
# What a number is written with (0912 345 678, +84 912.345.678, (024) 3825-1234). The
# parser below would also read other scripts' digits, letters and "ext." suffixes.
PHONE_TEXT_RE = re.compile(r"^\+?[0-9][0-9 .()-]*$")


def normalise_tax_code(value: str) -> str:
    """The tax code without the branch hyphen; ValueError if it is not one."""
    compact = value.strip()
    if not TAX_CODE_RE.fullmatch(compact):
        raise ValueError("a tax code has 10 digits, or 13 for a branch (0101234567-001)")
    return compact.replace("-", "")


def normalise_phone(value: str) -> str:
    """A Vietnamese mobile or landline number in E.164 (+84…); ValueError otherwise.

    Numbers are written as 0912 345 678, +84 912 345 678 or 84912345678; all three are
    the same subscriber, so the follow-up look-up must compare one spelling.
    """
    if not PHONE_TEXT_RE.fullmatch(value.strip()):
        raise ValueError("a phone number is written with the digits 0-9, spaces, . - ( ) and +")
    try:
        number = phonenumbers.parse(value, "VN")
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number") from None
    if not phonenumbers.is_valid_number(number) or number.country_code != 84:
        raise ValueError("not a valid Vietnamese phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
