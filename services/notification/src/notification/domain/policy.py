"""Who is told what, through which channel, exactly once.

The vocabulary of the events this service consumes (event types, dossier
statuses, the recipient block) lives here too, because the channel decision
is where it is interpreted first.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

# One masking rule for the whole platform: the log scrubber uses the same functions.
from chassis.privacy import mask_email, mask_phone

__all__ = [
    "LEGALLY_REQUIRED_NOTICES",
    "SILENT_STATUSES",
    "Channel",
    "DossierStatus",
    "EventType",
    "Language",
    "NotificationDomainError",
    "Recipient",
    "UnknownEventTypeError",
    "UnknownStatusError",
    "address_for",
    "as_recipient",
    "decide_channels",
    "delivery_key",
    "is_legally_required",
    "mask_account",
    "mask_address",
    "mask_email",
    "mask_phone",
    "normalize_phone",
    "parse_event_type",
    "parse_status",
]

Language = Literal["vi", "en"]


class NotificationDomainError(Exception):
    """Base of the errors raised by the notification domain."""


class UnknownEventTypeError(NotificationDomainError, LookupError):
    """No notification is defined for this event type."""


class UnknownStatusError(NotificationDomainError, LookupError):
    """The dossier status is not one this service knows how to announce."""


class EventType(StrEnum):
    STATUS_CHANGED = "dossier.status-changed.v1"
    OVERDUE = "dossier.overdue.v1"
    APOLOGY_ISSUED = "dossier.apology-issued.v1"


class DossierStatus(StrEnum):
    SUBMITTED = "submitted"
    RECEIVED = "received"
    IN_REVIEW = "in_review"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    SUPPLEMENTED = "supplemented"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    RESULT_RETURNED = "result_returned"
    WITHDRAWN = "withdrawn"


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WEBHOOK = "webhook"


# Steps inside the department's own workflow. The citizen has nothing to do
# at these steps and can follow them through the public status look-up, so a
# message each time would only be noise that teaches people to ignore the
# messages that do ask something of them.
SILENT_STATUSES: frozenset[DossierStatus] = frozenset(
    {
        DossierStatus.IN_REVIEW,
        DossierStatus.AWAITING_APPROVAL,
        DossierStatus.SUPPLEMENTED,
    }
)

# Notices the department owes the applicant in writing: a request for
# supplementary documents, the decision either way, and the apology slip that
# sets a new appointment date for a late dossier. An SMS opt-out covers
# courtesy messages only; it cannot waive these.
LEGALLY_REQUIRED_NOTICES: frozenset[tuple[EventType, DossierStatus | None]] = frozenset(
    {
        (EventType.STATUS_CHANGED, DossierStatus.SUPPLEMENT_REQUESTED),
        (EventType.STATUS_CHANGED, DossierStatus.REJECTED),
        (EventType.STATUS_CHANGED, DossierStatus.APPROVED),
        (EventType.APOLOGY_ISSUED, None),
    }
)

# Vietnamese mobile numbers: 10 digits starting 03, 05, 07, 08 or 09 in
# national form. Landlines (02x) cannot receive SMS.
_VN_MOBILE = re.compile(r"(?:\+84|0084|84|0)([35789]\d{8})")
_PHONE_PUNCTUATION = re.compile(r"[\s.\-()]")


def normalize_phone(phone: str | None) -> str | None:
    """E.164 form (``+84912345678``) of a Vietnamese mobile number, else ``None``."""
    if not phone:
        return None
    match = _VN_MOBILE.fullmatch(_PHONE_PUNCTUATION.sub("", phone))
    return f"+84{match.group(1)}" if match else None


def _normalize_email(email: str | None) -> str | None:
    if not email:
        return None
    candidate = email.strip().lower()
    local, at, domain = candidate.partition("@")
    if not at or not local or "." not in domain or "@" in domain:
        return None
    if any(ch.isspace() for ch in candidate):
        return None
    return candidate


class Recipient(BaseModel):
    """The ``recipient`` block of a dossier event.

    For a denunciation this is a pseudonymous contact: ``display_name`` is
    ``None`` and nothing here may identify the denouncer in a message.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    display_name: str | None = None
    email: str | None = None
    phone: str | None = None
    language: Language = "vi"
    sms_opt_out: bool = False
    portal_account: str | None = None

    @field_validator("display_name", "email", "phone", "portal_account", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: Any) -> Any:
        # Intake forms send "" for fields left empty; that is not an address.
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    @field_validator("language", mode="before")
    @classmethod
    def _known_language(cls, value: Any) -> str:
        # A message in Vietnamese beats no message: an unexpected language tag
        # must not make a legally required notice fail to render.
        if isinstance(value, str):
            primary = value.strip().lower().replace("_", "-").split("-")[0]
            if primary in ("vi", "en"):
                return primary
        return "vi"

    @field_validator("sms_opt_out", mode="before")
    @classmethod
    def _missing_opt_out_is_no(cls, value: Any) -> Any:
        return False if value is None else value

    @property
    def email_address(self) -> str | None:
        """Normalised email address, ``None`` if absent or unusable."""
        return _normalize_email(self.email)

    @property
    def sms_number(self) -> str | None:
        """E.164 mobile number, ``None`` if absent or not a mobile number."""
        return normalize_phone(self.phone)


def as_recipient(recipient: Recipient | BaseModel | Mapping[str, Any]) -> Recipient:
    """Our view of a recipient block, whether a mapping or the event contract's model."""
    if isinstance(recipient, Recipient):
        return recipient
    if isinstance(recipient, BaseModel):
        recipient = recipient.model_dump()
    return Recipient.model_validate(recipient)


def parse_event_type(event_type: str | EventType) -> EventType:
    try:
        return EventType(event_type)
    except ValueError:
        known = ", ".join(e.value for e in EventType)
        raise UnknownEventTypeError(
            f"no notification is defined for event type {event_type!r} (known: {known})"
        ) from None


def parse_status(event_type: EventType, new_status: str | None) -> DossierStatus | None:
    """The status a notice is about; only status changes have one."""
    if event_type is not EventType.STATUS_CHANGED:
        return None
    if new_status is None:
        raise UnknownStatusError(f"{event_type.value} requires new_status")
    try:
        return DossierStatus(new_status)
    except ValueError:
        known = ", ".join(s.value for s in DossierStatus)
        raise UnknownStatusError(
            f"unknown dossier status {new_status!r} (known: {known})"
        ) from None


def is_legally_required(event_type: str | EventType, new_status: str | None = None) -> bool:
    event = parse_event_type(event_type)
    return (event, parse_status(event, new_status)) in LEGALLY_REQUIRED_NOTICES


def decide_channels(
    event_type: str | EventType,
    new_status: str | None,
    recipient: Recipient | BaseModel | Mapping[str, Any],
) -> list[Channel]:
    """Channels to notify on, in a stable order; empty means stay silent."""
    event = parse_event_type(event_type)
    status = parse_status(event, new_status)
    if status in SILENT_STATUSES:
        return []
    contact = as_recipient(recipient)

    channels: list[Channel] = []
    if contact.email_address:
        channels.append(Channel.EMAIL)
    if contact.sms_number and (
        not contact.sms_opt_out or (event, status) in LEGALLY_REQUIRED_NOTICES
    ):
        channels.append(Channel.SMS)
    if contact.portal_account:
        channels.append(Channel.WEBHOOK)
    return channels


def address_for(channel: Channel | str, recipient: Recipient) -> str | None:
    """Normalised address of ``recipient`` on ``channel``, ``None`` if it has none."""
    match _channel(channel):
        case Channel.EMAIL:
            return recipient.email_address
        case Channel.SMS:
            return recipient.sms_number
        case Channel.WEBHOOK:
            return recipient.portal_account


def delivery_key(
    event_id: str,
    channel: Channel | str,
    recipient_address: str,
    *,
    pepper: bytes | None = None,
) -> str:
    """Idempotency key of one message: one event, one channel, one address.

    A unique index on this key in the delivery store makes redelivered events
    and concurrent workers send each message exactly once. The address is
    normalised first so that ``0912345678`` and ``+84912345678`` collide, and
    hashed so that the store's index holds no contact details. Phone numbers
    are few enough to be enumerated from a plain hash; pass a secret
    ``pepper`` to make the key an HMAC when that matters.
    """
    if not event_id:
        raise ValueError("event_id is required")
    kind = _channel(channel)
    address = recipient_address.strip()
    if kind is Channel.EMAIL:
        address = address.lower()
    elif kind is Channel.SMS:
        address = normalize_phone(address) or address
    if not address:
        raise ValueError("recipient_address is required")
    # JSON keeps the three parts unambiguous whatever characters they contain.
    material = json.dumps([event_id, kind.value, address], ensure_ascii=False).encode("utf-8")
    if pepper:
        return hmac.new(pepper, material, hashlib.sha256).hexdigest()
    return hashlib.sha256(material).hexdigest()


def mask_account(account: str) -> str:
    """``cd-079085001234`` → ``cd***34``, for logs and audit.

    Portal account names are often built from the citizen ID, which the
    free-text scrubber cannot recognise inside a longer token.
    """
    account = account.strip()
    return f"{account[:2]}***{account[-2:]}" if len(account) >= 8 else "***"


def mask_address(channel: Channel | str, address: str) -> str:
    """How a recipient's address on ``channel`` may appear in logs, events and the API."""
    match _channel(channel):
        case Channel.EMAIL:
            return mask_email(address)
        case Channel.SMS:
            return mask_phone(address)
        case Channel.WEBHOOK:
            return mask_account(address)


def _channel(channel: Channel | str) -> Channel:
    try:
        return Channel(channel)
    except ValueError:
        known = ", ".join(c.value for c in Channel)
        raise NotificationDomainError(f"unknown channel {channel!r} (known: {known})") from None
