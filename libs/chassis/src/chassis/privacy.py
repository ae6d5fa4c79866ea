"""Masking of personal data in free text (log lines, error messages, span attributes).

A citizen ID (CCCD, 12 digits), a tax code, a Vietnamese phone number or an email
address must never reach a log, a trace or a metric. Code should not put them there in
the first place; this is the net under that rule.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# 0xx / +84xx mobile and landline numbers, with optional spaces, dots or dashes.
_PHONE = re.compile(r"(?<![\w])(?:\+?84|0)(?:[\s.-]?\d){8,10}(?![\w])")
# Runs of 9 or more digits cover CCCD (12), old CMND (9) and tax codes (10/13).
_ID_NUMBER = re.compile(r"(?<![\w-])\d{9,13}(?![\w-])")


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    host, _, tld = domain.rpartition(".")
    return f"{local[:1]}***@{host[:1]}***.{tld}" if host else f"{local[:1]}***@***"


def mask_phone(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    # +84 / 0084 is the country code in front of a national number without its 0: mask
    # the national form so one number looks the same in every log line.
    digits = digits[2:] if digits.startswith("0084") else digits
    if digits.startswith("84") and len(digits) in (10, 11, 12):
        digits = "0" + digits[2:]
    return f"{digits[:3]}****{digits[-3:]}" if len(digits) >= 8 else "***"


def scrub(text: str) -> str:
    text = _EMAIL.sub(lambda m: mask_email(m.group()), text)
    text = _PHONE.sub(lambda m: mask_phone(m.group()), text)
    return _ID_NUMBER.sub("[id]", text)
