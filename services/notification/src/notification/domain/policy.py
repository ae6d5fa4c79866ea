"""Who is told what, through which channel, exactly once.

The vocabulary (event types, dossier statuses, delivery channels, the recipient block)
is the shared event contract's, ``chassis.events``; this module decides with it and
reads a recipient block the lenient way a message needs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel

from chassis.events import DeliveryChannel, DossierStatus, EventType, Recipient

# One masking rule for the whole platform: the log scrubber uses the same functions.
from chassis.privacy import mask_email, mask_phone

__all__ = [
    "LEGALLY_REQUIRED_NOTICES",
    "NOTICE_TYPES",
    "SILENT_STATUSES",
    "Language",
    "NotificationDomainError",
    "UnknownEventTypeError",
    "UnknownStatusError",
    "address_for",
    "as_recipient",
    "decide_channels",
    "delivery_key",
    "email_address",
    "is_legally_required",
    "mask_account",
    "mask_address",
    "mask_email",
    "mask_phone",
    "message_id",
    "normalize_phone",
    "parse_event_type",
    "parse_status",
    "sms_number",
]

Language = Literal["vi", "en"]


class NotificationDomainError(Exception):
    """Base of the errors raised by the notification domain."""


class UnknownEventTypeError(NotificationDomainError, LookupError):
    """No notification is defined for this event type."""


class UnknownStatusError(NotificationDomainError, LookupError):
    """The dossier status is not one this service knows how to announce."""


# The lifecycle events a citizen is told about; every other type is no concern of ours.
NOTICE_TYPES: tuple[EventType, ...] = (
    EventType.STATUS_CHANGED,
    EventType.OVERDUE,
    EventType.APOLOGY_ISSUED,
)


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


_RECIPIENT_FIELDS = tuple(Recipient.model_fields)


def _blank_is_absent(value: Any) -> Any:
    # Intake forms send "" for fields left empty; that is not an address.
    if isinstance(value, str):
        return value.strip() or None
    return value


def _known_language(value: Any) -> Language:
    # A message in Vietnamese beats no message: an unexpected language tag must not
    # make a legally required notice fail to render.
    if isinstance(value, str):
        primary = value.strip().lower().replace("_", "-").split("-")[0]
        if primary == "en":
            return "en"
    return "vi"


def as_recipient(recipient: Recipient | BaseModel | Mapping[str, Any] | None) -> Recipient:
    """The contract's recipient block as a message needs it: blanks absent, a language
    we write in, no opt-out unless one was given, unknown fields dropped.

    For a denunciation this is a pseudonymous contact: ``display_name`` is ``None`` and
    nothing here may identify the denouncer in a message.
    """
    if isinstance(recipient, BaseModel):
        recipient = recipient.model_dump()
    block = {k: v for k, v in (recipient or {}).items() if k in _RECIPIENT_FIELDS}
    for name in ("display_name", "email", "phone", "portal_account"):
        block[name] = _blank_is_absent(block.get(name))
    block["language"] = _known_language(block.get("language"))
    if block.get("sms_opt_out") is None:
        block["sms_opt_out"] = False
    return Recipient.model_validate(block)


def email_address(recipient: Recipient) -> str | None:
    """Normalised email address, ``None`` if absent or unusable."""
    return _normalize_email(recipient.email)


def sms_number(recipient: Recipient) -> str | None:
    """E.164 mobile number, ``None`` if absent or not a mobile number."""
    return normalize_phone(recipient.phone)


def parse_event_type(event_type: str | EventType) -> EventType:
    """The notice type ``event_type`` names; anything but `NOTICE_TYPES` is refused."""
    for notice in NOTICE_TYPES:
        if event_type == notice:
            return notice
    known = ", ".join(e.value for e in NOTICE_TYPES)
    raise UnknownEventTypeError(
        f"no notification is defined for event type {event_type!r} (known: {known})"
    )


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
) -> list[DeliveryChannel]:
    """Channels to notify on, in a stable order; empty means stay silent."""
    event = parse_event_type(event_type)
    status = parse_status(event, new_status)
    if status in SILENT_STATUSES:
        return []
    contact = as_recipient(recipient)

    channels: list[DeliveryChannel] = []
    if email_address(contact):
        channels.append(DeliveryChannel.EMAIL)
    if sms_number(contact) and (
        not contact.sms_opt_out or (event, status) in LEGALLY_REQUIRED_NOTICES
    ):
        channels.append(DeliveryChannel.SMS)
    if contact.portal_account:
        channels.append(DeliveryChannel.WEBHOOK)
    return channels


def address_for(channel: DeliveryChannel | str, recipient: Recipient) -> str | None:
    """Normalised address of ``recipient`` (as `as_recipient` reads it) on ``channel``,
    ``None`` if it has none."""
    match _channel(channel):
        case DeliveryChannel.EMAIL:
            return email_address(recipient)
        case DeliveryChannel.SMS:
            return sms_number(recipient)
        case DeliveryChannel.WEBHOOK:
            return recipient.portal_account


def delivery_key(
    event_id: str,
    channel: DeliveryChannel | str,
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
    if kind is DeliveryChannel.EMAIL:
        address = address.lower()
    elif kind is DeliveryChannel.SMS:
        address = normalize_phone(address) or address
    if not address:
        raise ValueError("recipient_address is required")
    # JSON keeps the three parts unambiguous whatever characters they contain.
    material = json.dumps([event_id, kind.value, address], ensure_ascii=False).encode("utf-8")
    if pepper:
        return hmac.new(pepper, material, hashlib.sha256).hexdigest()
    return hashlib.sha256(material).hexdigest()


def message_id(delivery_id: str) -> str:
    """The Message-ID of an email delivery: the same on every attempt, so a repeat after
    a crash is recognisable as the same message by mail systems and by people."""
    return f"<{delivery_id}@hoso>"


def mask_account(account: str) -> str:
    """``cd-079085001234`` → ``cd***34``, for logs and audit.

    Portal account names are often built from the citizen ID, which the
    free-text scrubber cannot recognise inside a longer token.
    """
    account = account.strip()
    return f"{account[:2]}***{account[-2:]}" if len(account) >= 8 else "***"


def mask_address(channel: DeliveryChannel | str, address: str) -> str:
    """How a recipient's address on ``channel`` may appear in logs, events and the API."""
    match _channel(channel):
        case DeliveryChannel.EMAIL:
            return mask_email(address)
        case DeliveryChannel.SMS:
            return mask_phone(address)
        case DeliveryChannel.WEBHOOK:
            return mask_account(address)


def _channel(channel: DeliveryChannel | str) -> DeliveryChannel:
    try:
        return DeliveryChannel(channel)
    except ValueError:
        known = ", ".join(c.value for c in DeliveryChannel)
        raise NotificationDomainError(f"unknown channel {channel!r} (known: {known})") from None
