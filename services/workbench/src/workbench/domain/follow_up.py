"""Citizens following their dossier: no account, no session, so the rules of these
pages are their own.

- CSRF: a random token in a cookie of its own (HttpOnly, SameSite=Lax) and the same
  token in every form (double submit): another site can make a browser post, but can
  neither read the cookie nor set it, so it cannot put the token in its form.
- The opened dossier: the receipt code and the secret (or phone) are posted once, never
  put in a URL, and kept for a while in an encrypted cookie (``FollowUp``) so the next
  pages need not ask again.
- The timeline: intake tells the citizen the current status only; the page shows the
  steps of the procedure with the one reached, in plain words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from workbench.domain import csrf

CSRF_COOKIE = "hoso_follow_up_csrf"
OPENED_COOKIE = "hoso_follow_up"
CSRF_COOKIE_MAX_S = 2 * 3600

# Receipt codes are read out over the phone: case, spaces and dashes do not matter.
_RECEIPT = re.compile(r"^[A-Z0-9][A-Z0-9-]{5,39}$")
_PHONE = re.compile(r"^\+?[0-9 .-]{8,20}$")
_SECRET = re.compile(r"^[A-Za-z0-9-]{4,64}$")


def fresh_csrf() -> str:
    return csrf.new_token()


def csrf_accepts(cookie: str | None, offered: object) -> bool:
    """The form's token is the cookie's (constant time; never an empty one)."""
    return csrf.accepts(cookie, offered)


def receipt_code(text: str) -> str | None:
    """The receipt code as typed (``mt-261126-xvqkyc``, `` MT-261126 XVQKYC``) in capitals
    without spaces, or None if it cannot be one (intake reads dashes as optional)."""
    code = re.sub(r"\s+", "", text.upper())
    return code if _RECEIPT.match(code) else None


@dataclass(frozen=True)
class FollowUp:
    """What opens the dossier: its receipt code and the secret, or the phone."""

    receipt_code: str
    secret: str | None = None
    phone: str | None = None

    def to_record(self) -> dict[str, Any]:
        return {"r": self.receipt_code, "s": self.secret, "p": self.phone}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> FollowUp | None:
        code = record.get("r")
        secret, phone = record.get("s"), record.get("p")
        if not isinstance(code, str) or not (secret or phone):
            return None
        return cls(
            code,
            secret if isinstance(secret, str) else None,
            phone if isinstance(phone, str) else None,
        )


@dataclass(frozen=True)
class Asked:
    """The opening form read back: the follow-up, or which inputs are wrong."""

    follow_up: FollowUp | None
    errors: dict[str, str]


def read_opening(code_text: str, secret_text: str, phone_text: str) -> Asked:
    """The receipt code and one of secret or phone, checked for shape only (intake
    answers whether they open the dossier)."""
    # Each wrong input and the i18n key of what is wrong with it.
    errors: dict[str, str] = {}
    code = receipt_code(code_text)
    if code is None:
        errors["receipt_code"] = "citizen.error.receipt_code"
    secret = secret_text.strip() or None
    phone = phone_text.strip() or None
    if secret is None and phone is None:
        errors["secret"] = "citizen.error.second_factor"  # noqa: S105 (a message key)
    elif secret is not None and not _SECRET.match(secret):
        errors["secret"] = "citizen.error.secret"  # noqa: S105 (a message key)
    elif secret is None and phone is not None and not _PHONE.match(phone):
        errors["phone"] = "citizen.error.phone"
    if errors or code is None:
        return Asked(None, errors)
    return Asked(FollowUp(code, secret, None if secret else phone), {})


# --------------------------------------------------------------------------- timeline

# The steps a citizen sees, in order, and the step each status has reached.
STEPS = ("submitted", "received", "in_review", "decided", "result_returned")
_STEP_OF = {
    "submitted": 0,
    "received": 1,
    "awaiting_acceptance": 1,
    "in_review": 2,
    "supplement_requested": 2,
    "supplemented": 2,
    "awaiting_approval": 2,
    "approved": 3,
    "rejected": 3,
    "result_returned": 4,
}


@dataclass(frozen=True)
class Step:
    key: str  # citizen.step.<key>
    state: str  # done | current | upcoming


def steps(status: str) -> list[Step]:
    """The procedure's steps with the one the dossier is at; a withdrawn dossier has
    none left (the page says so instead)."""
    reached = _STEP_OF.get(status)
    if reached is None:
        return []
    last = len(STEPS) - 1
    return [
        Step(
            key,
            "done"
            if index < reached or (index == reached == last)
            else "current"
            if index == reached
            else "upcoming",
        )
        for index, key in enumerate(STEPS)
    ]


def needs_supplement(status: dict[str, Any]) -> bool:
    return status.get("status") == "supplement_requested"


def asked_for(status: dict[str, Any], names: dict[str, str]) -> list[str]:
    """What the officer asked the citizen to bring, in words: the catalogue documents by
    name, then anything else the officer wrote (``missing_items``, when intake tells it)."""
    documents = [names.get(str(code), str(code)) for code in status.get("missing_documents") or []]
    items = [str(item) for item in status.get("missing_items") or [] if str(item).strip()]
    return documents + items


def result_document(status: dict[str, Any]) -> str | None:
    """The id of the issued result document, once intake's status names it."""
    found = status.get("result_document")
    if isinstance(found, dict):
        document_id = found.get("document_id")
        return str(document_id) if document_id else None
    return None
