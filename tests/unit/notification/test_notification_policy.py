"""Which channels a notice goes out on, delivery keys and log masking."""

from __future__ import annotations

import re
from typing import Any

import pytest

from chassis.events import DeliveryChannel, DossierStatus, EventType, Recipient
from chassis.privacy import scrub
from notification.domain.policy import (
    LEGALLY_REQUIRED_NOTICES,
    NOTICE_TYPES,
    SILENT_STATUSES,
    NotificationDomainError,
    UnknownEventTypeError,
    UnknownStatusError,
    address_for,
    as_recipient,
    decide_channels,
    delivery_key,
    email_address,
    is_legally_required,
    mask_address,
    mask_email,
    mask_phone,
    normalize_phone,
    sms_number,
)

STATUS_CHANGED = EventType.STATUS_CHANGED.value
OVERDUE = EventType.OVERDUE.value
APOLOGY = EventType.APOLOGY_ISSUED.value
EMAIL, SMS, WEBHOOK = DeliveryChannel.EMAIL, DeliveryChannel.SMS, DeliveryChannel.WEBHOOK


def recipient(**overrides: Any) -> dict[str, Any]:
    contact: dict[str, Any] = {
        "display_name": "Lê Thị Hoa",
        "email": "le.thi.hoa@example.vn",
        "phone": "0912345678",
        "language": "vi",
        "sms_opt_out": False,
        "portal_account": "cd-079085001234",
    }
    contact.update(overrides)
    return contact


OPTED_OUT = recipient(sms_opt_out=True)


@pytest.mark.parametrize(
    ("event_type", "new_status", "contact", "expected"),
    [
        # Everyone reachable on every channel they gave.
        (STATUS_CHANGED, "submitted", recipient(), [EMAIL, SMS, WEBHOOK]),
        (STATUS_CHANGED, "received", recipient(), [EMAIL, SMS, WEBHOOK]),
        (STATUS_CHANGED, "supplement_requested", recipient(), [EMAIL, SMS, WEBHOOK]),
        (STATUS_CHANGED, "approved", recipient(), [EMAIL, SMS, WEBHOOK]),
        (STATUS_CHANGED, "rejected", recipient(), [EMAIL, SMS, WEBHOOK]),
        (STATUS_CHANGED, "result_returned", recipient(), [EMAIL, SMS, WEBHOOK]),
        (STATUS_CHANGED, "withdrawn", recipient(), [EMAIL, SMS, WEBHOOK]),
        (OVERDUE, None, recipient(), [EMAIL, SMS, WEBHOOK]),
        (APOLOGY, None, recipient(), [EMAIL, SMS, WEBHOOK]),
        # Internal steps: nothing, whatever the contact details.
        (STATUS_CHANGED, "in_review", recipient(), []),
        (STATUS_CHANGED, "awaiting_approval", recipient(), []),
        (STATUS_CHANGED, "supplemented", recipient(), []),
        # SMS opt-out holds for courtesy notices...
        (STATUS_CHANGED, "submitted", OPTED_OUT, [EMAIL, WEBHOOK]),
        (STATUS_CHANGED, "received", OPTED_OUT, [EMAIL, WEBHOOK]),
        (STATUS_CHANGED, "result_returned", OPTED_OUT, [EMAIL, WEBHOOK]),
        (STATUS_CHANGED, "withdrawn", OPTED_OUT, [EMAIL, WEBHOOK]),
        (OVERDUE, None, OPTED_OUT, [EMAIL, WEBHOOK]),
        # ...but not for notices the department owes in writing.
        (STATUS_CHANGED, "supplement_requested", OPTED_OUT, [EMAIL, SMS, WEBHOOK]),
        (STATUS_CHANGED, "rejected", OPTED_OUT, [EMAIL, SMS, WEBHOOK]),
        (STATUS_CHANGED, "approved", OPTED_OUT, [EMAIL, SMS, WEBHOOK]),
        (APOLOGY, None, OPTED_OUT, [EMAIL, SMS, WEBHOOK]),
        # Only the channels the citizen can be reached on.
        (STATUS_CHANGED, "received", recipient(email=None, portal_account=None), [SMS]),
        (STATUS_CHANGED, "received", recipient(phone=None, portal_account=None), [EMAIL]),
        (STATUS_CHANGED, "received", recipient(email="", phone=" "), [WEBHOOK]),
        (STATUS_CHANGED, "rejected", recipient(email=None, phone=None, portal_account=None), []),
        (STATUS_CHANGED, "received", recipient(email="not an address"), [SMS, WEBHOOK]),
        (STATUS_CHANGED, "received", recipient(phone="+84 912 345 678"), [EMAIL, SMS, WEBHOOK]),
        # A landline cannot take an SMS, even a legally required one.
        (STATUS_CHANGED, "rejected", recipient(phone="0234 3822 123"), [EMAIL, WEBHOOK]),
    ],
)
def test_channel_decision(
    event_type: str,
    new_status: str | None,
    contact: dict[str, Any],
    expected: list[DeliveryChannel],
) -> None:
    assert decide_channels(event_type, new_status, contact) == expected
    assert decide_channels(event_type, new_status, Recipient.model_validate(contact)) == expected


def test_every_status_is_classified() -> None:
    for status in DossierStatus:
        channels = decide_channels(STATUS_CHANGED, status.value, recipient())
        assert (channels == []) == (status in SILENT_STATUSES)


def test_legally_required_notices() -> None:
    assert is_legally_required(STATUS_CHANGED, "supplement_requested")
    assert is_legally_required(STATUS_CHANGED, "rejected")
    assert is_legally_required(STATUS_CHANGED, "approved")
    assert is_legally_required(APOLOGY)
    assert not is_legally_required(STATUS_CHANGED, "received")
    assert not is_legally_required(OVERDUE)
    assert len(LEGALLY_REQUIRED_NOTICES) == 4


def test_denunciation_contact_is_treated_like_any_other() -> None:
    pseudonymous = {"display_name": None, "email": "tc-7f3a@hop-thu.example.vn", "phone": None}
    assert decide_channels(STATUS_CHANGED, "received", pseudonymous) == [EMAIL]


def test_unknown_event_or_status_is_refused() -> None:
    with pytest.raises(UnknownEventTypeError, match=r"dossier\.archived\.v1"):
        decide_channels("dossier.archived.v1", None, recipient())
    # Types of the contract that no notice exists for are refused the same way.
    for event_type in set(EventType) - set(NOTICE_TYPES):
        with pytest.raises(UnknownEventTypeError, match=re.escape(event_type.value)):
            decide_channels(event_type.value, None, recipient())
    with pytest.raises(UnknownStatusError, match="archived"):
        decide_channels(STATUS_CHANGED, "archived", recipient())
    with pytest.raises(UnknownStatusError, match="new_status"):
        decide_channels(STATUS_CHANGED, None, recipient())


def test_status_is_ignored_for_events_without_one() -> None:
    assert decide_channels(OVERDUE, "in_review", recipient()) == [EMAIL, SMS, WEBHOOK]


# --- recipient -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("0912345678", "+84912345678"),
        ("+84912345678", "+84912345678"),
        ("84912345678", "+84912345678"),
        ("0084 912 345 678", "+84912345678"),
        ("091.234.5678", "+84912345678"),
        ("(+84) 38-123-4567", "+84381234567"),
        ("0234 3822 123", None),  # landline
        ("091234567", None),  # a digit short
        ("09123456789", None),  # a digit long
        ("0112345678", None),  # no such mobile prefix
        ("", None),
        (None, None),
    ],
)
def test_normalize_phone(phone: str | None, expected: str | None) -> None:
    assert normalize_phone(phone) == expected


def test_recipient_normalises_what_intake_forms_send() -> None:
    contact = as_recipient(
        {
            "display_name": "  ",
            "email": " Le.Thi.Hoa@Example.VN ",
            "phone": "+84 912 345 678",
            "language": "EN",
            "sms_opt_out": None,
            "portal_account": "",
            "unexpected": "ignored",
        }
    )
    assert isinstance(contact, Recipient)
    assert contact.display_name is None
    assert email_address(contact) == "le.thi.hoa@example.vn"
    assert sms_number(contact) == "+84912345678"
    assert contact.language == "en"
    assert contact.sms_opt_out is False
    assert contact.portal_account is None
    assert as_recipient({}).language == "vi"
    assert as_recipient({"language": "fr-FR"}).language == "vi"
    assert as_recipient({"sms_opt_out": "true"}).sms_opt_out is True


def test_recipient_from_the_contract_is_read_the_same_way() -> None:
    # The contract's block admits blanks; a blank is still no address.
    block = Recipient(display_name=" ", email="", phone="  ", portal_account=" ")
    assert as_recipient(block) == Recipient()
    assert decide_channels(STATUS_CHANGED, "rejected", block) == []


def test_address_for_each_channel() -> None:
    contact = Recipient.model_validate(recipient(email="Le.Thi.Hoa@Example.vn"))
    assert address_for(EMAIL, contact) == "le.thi.hoa@example.vn"
    assert address_for("sms", contact) == "+84912345678"
    assert address_for(WEBHOOK, contact) == "cd-079085001234"
    assert address_for(SMS, Recipient()) is None
    with pytest.raises(NotificationDomainError, match="fax"):
        address_for("fax", contact)


# --- delivery keys -------------------------------------------------------------

EVENT_ID = "0195b0c4-7f3e-7c2a-9d1e-4b8f6a2c1d3e"


def test_delivery_key_is_stable_and_hides_the_address() -> None:
    key = delivery_key(EVENT_ID, EMAIL, "le.thi.hoa@example.vn")
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert key == delivery_key(EVENT_ID, "email", "le.thi.hoa@example.vn")
    assert "le.thi.hoa" not in key


def test_delivery_key_differs_per_event_channel_and_address() -> None:
    keys = {
        delivery_key(EVENT_ID, EMAIL, "le.thi.hoa@example.vn"),
        delivery_key("another-event", EMAIL, "le.thi.hoa@example.vn"),
        delivery_key(EVENT_ID, WEBHOOK, "le.thi.hoa@example.vn"),
        delivery_key(EVENT_ID, EMAIL, "tran.van.b@example.vn"),
    }
    assert len(keys) == 4


def test_delivery_key_treats_one_address_written_two_ways_as_one() -> None:
    assert delivery_key(EVENT_ID, SMS, "0912345678") == delivery_key(
        EVENT_ID, SMS, "+84 912 345 678"
    )
    assert delivery_key(EVENT_ID, EMAIL, "Le.Thi.Hoa@Example.vn ") == delivery_key(
        EVENT_ID, EMAIL, "le.thi.hoa@example.vn"
    )


def test_delivery_key_parts_cannot_run_into_each_other() -> None:
    assert delivery_key("a|b", WEBHOOK, "c") != delivery_key("a", WEBHOOK, "b|c")


def test_delivery_key_with_pepper() -> None:
    plain = delivery_key(EVENT_ID, SMS, "0912345678")
    peppered = delivery_key(EVENT_ID, SMS, "0912345678", pepper=b"k" * 32)
    assert peppered != plain
    assert peppered == delivery_key(EVENT_ID, SMS, "+84912345678", pepper=b"k" * 32)
    assert re.fullmatch(r"[0-9a-f]{64}", peppered)


def test_delivery_key_needs_all_parts() -> None:
    with pytest.raises(ValueError, match="event_id"):
        delivery_key("", EMAIL, "a@example.vn")
    with pytest.raises(ValueError, match="recipient_address"):
        delivery_key(EVENT_ID, EMAIL, "  ")


# --- masking -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("nguyen.van.a@example.vn", "n***@e***.vn"),
        ("hoa@mail.stnmt.gov.vn", "h***@m***.vn"),
        ("x@localhost", "x***@***"),
        ("not-an-address", "n***@***"),
    ],
)
def test_mask_email(email: str, masked: str) -> None:
    assert mask_email(email) == masked


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("0912345678", "091****678"),
        ("+84912345678", "091****678"),
        ("091 234 5678", "091****678"),
        ("0084 912 345 678", "091****678"),
        ("02343822123", "023****123"),
        ("+84 234 382 2123", "023****123"),
        ("12345", "***"),
        ("", "***"),
    ],
)
def test_mask_phone(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


def test_masks_are_the_ones_the_log_scrubber_uses() -> None:
    # One number written two ways must look the same in a log line and an event.
    line = scrub("SMS to +84912345678 failed; retrying 0912345678")
    assert (
        line == f"SMS to {mask_phone('+84912345678')} failed; retrying {mask_phone('0912345678')}"
    )
    assert "912345" not in line


@pytest.mark.parametrize(
    ("channel", "address", "masked"),
    [
        (EMAIL, "le.thi.hoa@example.vn", "l***@e***.vn"),
        (SMS, "+84912345678", "091****678"),
        (WEBHOOK, "cd-079085001234", "cd***34"),
        (WEBHOOK, "short", "***"),
    ],
)
def test_mask_address_per_channel(channel: DeliveryChannel, address: str, masked: str) -> None:
    assert mask_address(channel, address) == masked
    # A citizen ID inside a portal account name must not survive masking.
    assert "079085001234" not in mask_address(channel, address)


def test_mask_address_rejects_unknown_channel() -> None:
    with pytest.raises(NotificationDomainError, match="unknown channel"):
        mask_address("fax", "123")


def test_recipient_from_the_event_contracts_own_model() -> None:
    contact = Recipient(email="a@example.vn", phone="0912345678", sms_opt_out=True)
    assert sms_number(as_recipient(contact)) == "+84912345678"
    assert decide_channels(STATUS_CHANGED, "rejected", contact) == [EMAIL, SMS]
    assert decide_channels(STATUS_CHANGED, "received", contact) == [EMAIL]
