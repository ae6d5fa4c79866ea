"""What is planned for one lifecycle event as the consumer hands it over, how an email
is composed, settings, the inline gate and the operator API's cursors. No broker, store
or network: the senders are built for real but never connected, the delivery log and
the publisher are fakes."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError

from chassis.events import (
    DeliveryChannel,
    DossierKind,
    DossierStatusChanged,
    Recipient,
    Topics,
    decode,
    encode,
    make_event,
)
from chassis.kafka import ConsumedEvent
from chassis.problems import Problem
from notification.adapters.consumer import notice_of
from notification.adapters.email import SmtpSender
from notification.api.deliveries import decode_cursor, encode_cursor
from notification.domain.messages import TemplateCatalogue
from notification.domain.policy import delivery_key
from notification.main import build_senders
from notification.service import Deliverer, InlineGate, LifecycleNotice, NoticeHandler
from notification.service.ports import Outgoing
from notification.settings import NotificationSettings
from tests.unit.notification.fakes import FakeDeliveryLog, FakePublisher

SECRET = "portal-secret-for-tests"
PEPPER = "pepper-for-tests"
NOW = datetime(2025, 3, 20, 2, 15, tzinfo=UTC)
CATALOGUE = TemplateCatalogue()


def settings(**overrides: Any) -> NotificationSettings:
    values: dict[str, Any] = {
        "sms_gateway_url": "http://sms.invalid/send",
        "portal_webhook_url": "http://portal.invalid/inbox",
        "webhook_secrets": [SECRET],
        "delivery_key_pepper": PEPPER,
    }
    values.update(overrides)
    return NotificationSettings(**values)


def handlers(config: NotificationSettings, gate: InlineGate | None = None) -> NoticeHandler:
    store = FakeDeliveryLog()
    senders = build_senders(config, httpx.AsyncClient())
    deliverer = Deliverer(config, store, senders, FakePublisher(), gate=gate)
    return NoticeHandler(config, CATALOGUE, store, deliverer)


def consumed(
    new_status: str = "approved", kind: DossierKind = DossierKind.PROCEDURE, **contact: Any
) -> LifecycleNotice:
    contact = {
        "display_name": "Nguyễn Văn An",
        "email": "an@example.vn",
        "phone": "0912345678",
        "portal_account": "cd-079085001234",
        "language": "vi",
    } | contact
    envelope = make_event(
        DossierStatusChanged(
            dossier_id="d-1",
            receipt_code="000.00.12.H12-250317-0042",
            procedure_code="1.004228",
            procedure_name_vi="Cấp giấy phép khai thác nước dưới đất",
            procedure_name_en="Groundwater extraction licence",
            agency="STNMT",
            agency_name_vi="Sở Tài nguyên và Môi trường",
            agency_name_en="Department of Natural Resources and Environment",
            kind=kind,
            old_status="awaiting_approval",
            new_status=new_status,
            action="approve",
            due_date=date(2025, 4, 8),
            result_reference="125/GP-STNMT",
            occurred_at=NOW,
            version=4,
            recipient=Recipient(**contact),
        ),
        source="/hoso/processing",
        actor="officer:o-1",
        event_id="evt-1",
    )
    _, payload = decode(encode(envelope))
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        Topics.LIFECYCLE, 0, 0, 0, 0, b"d-1", encode(envelope), None, 0, 0, ()
    )
    return notice_of(ConsumedEvent(envelope, payload, record))


def test_one_delivery_per_configured_channel_keyed_by_event_channel_and_address() -> None:
    planned = handlers(settings()).plan(consumed(), NOW)

    by_channel = {DeliveryChannel(p.document["channel"]): p.document for p in planned}
    assert list(by_channel) == [DeliveryChannel.EMAIL, DeliveryChannel.SMS, DeliveryChannel.WEBHOOK]
    assert by_channel[DeliveryChannel.SMS]["address"] == "+84912345678"
    for channel, document in by_channel.items():
        assert document["_id"] == delivery_key(
            "evt-1", channel, document["address"], pepper=PEPPER.encode()
        )
        assert document["source_event_id"] == "evt-1"
        # Inserted as its own first attempt; the worker steps in only after the lease.
        assert (document["status"], document["attempts"]) == ("sending", 1)
        assert document["lease_until"] == NOW + timedelta(seconds=120)
    assert by_channel[DeliveryChannel.EMAIL]["recipient_masked"] == "a***@e***.vn"
    assert by_channel[DeliveryChannel.SMS]["recipient_masked"] == "091****678"
    assert "079085001234" not in by_channel[DeliveryChannel.WEBHOOK]["recipient_masked"]


def test_unconfigured_channels_are_skipped() -> None:
    planned = handlers(settings(sms_gateway_url=None, portal_webhook_url="")).plan(consumed(), NOW)
    assert [p.document["channel"] for p in planned] == ["email"]


def test_each_delivery_carries_its_rendered_message() -> None:
    planned = handlers(settings()).plan(consumed(language="en"), NOW)
    content = {p.document["channel"]: p.document["content"] for p in planned}
    assert content["email"]["subject"] == "Result ready for dossier 000.00.12.H12-250317-0042"
    assert "Dear Nguyễn Văn An" in content["email"]["text"]
    assert content["sms"]["text"].isascii()
    payload = content["webhook"]["payload"]
    assert payload["portal_account"] == "cd-079085001234"
    assert payload["delivery_id"] == planned[2].document["_id"]
    assert payload["language"] == "en"


def test_a_denouncer_is_greeted_without_a_name_even_if_the_event_carries_one() -> None:
    planned = handlers(settings()).plan(consumed(kind=DossierKind.DENUNCIATION), NOW)
    for p in planned:
        assert "Nguyễn Văn An" not in json.dumps(p.document["content"], ensure_ascii=False)
    email = next(p.document["content"] for p in planned if p.document["channel"] == "email")
    assert "Kính gửi Quý công dân" in email["text"]


def test_an_opted_out_citizen_still_gets_legally_required_notices_by_sms() -> None:
    planner = handlers(settings())
    required = planner.plan(consumed("rejected", sms_opt_out=True), NOW)
    courtesy = planner.plan(consumed("received", sms_opt_out=True), NOW)
    assert "sms" in [p.document["channel"] for p in required]
    assert "sms" not in [p.document["channel"] for p in courtesy]


def test_internal_steps_plan_nothing() -> None:
    assert handlers(settings()).plan(consumed("in_review"), NOW) == []


def test_a_paused_channel_is_left_to_the_worker_at_once() -> None:
    clock = [100.0]
    gate = InlineGate(30, clock=lambda: clock[0])
    gate.failed(DeliveryChannel.SMS)
    planned = handlers(settings(), gate).plan(consumed(), NOW)
    state = {
        p.document["channel"]: (p.inline, p.document["status"], p.document["next_attempt_at"])
        for p in planned
    }
    assert state["sms"] == (False, "pending", NOW)
    assert state["email"] == (True, "sending", None)


def test_inline_gate_reopens_after_a_success_or_the_pause() -> None:
    clock = [0.0]
    gate = InlineGate(30, clock=lambda: clock[0])
    gate.failed(DeliveryChannel.SMS)
    assert not gate.allows(DeliveryChannel.SMS)
    assert gate.allows(DeliveryChannel.EMAIL)
    clock[0] = 30.0
    assert gate.allows(DeliveryChannel.SMS)
    gate.failed(DeliveryChannel.SMS)
    gate.succeeded(DeliveryChannel.SMS)
    assert gate.allows(DeliveryChannel.SMS)


def test_email_carries_a_stable_message_id_and_both_parts() -> None:
    config = settings()
    planned = next(
        p for p in handlers(config).plan(consumed(), NOW) if p.document["channel"] == "email"
    )
    document = planned.document
    composed = SmtpSender(config).compose(
        Outgoing(document["_id"], document["address"], document["language"], document["content"])
    )
    # As a mail program reads it off the wire.
    message = email.message_from_bytes(composed.as_bytes(), policy=email.policy.default)
    assert message["Message-ID"].strip() == f"<{document['_id']}@hoso>"
    assert message["X-Hoso-Delivery"].strip() == document["_id"]
    assert message["Content-Language"] == "vi"
    assert message["To"] == "an@example.vn"
    assert message["Subject"] == document["content"]["subject"]
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    assert plain.get_content() == document["content"]["text"]  # type: ignore[attr-defined]
    assert html.get_content() == document["content"]["html"]  # type: ignore[attr-defined]


def test_webhook_without_a_secret_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="webhook_secrets"):
        NotificationSettings(portal_webhook_url="http://portal.invalid/inbox")


def test_webhook_secrets_come_as_a_list_or_comma_separated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NOTIFICATION_WEBHOOK_SECRETS", "new-one, old-one")
    assert [s.get_secret_value() for s in NotificationSettings().webhook_secrets] == [
        "new-one",
        "old-one",
    ]
    monkeypatch.setenv("NOTIFICATION_WEBHOOK_SECRETS", '["a", "b"]')
    assert [s.get_secret_value() for s in NotificationSettings().webhook_secrets] == ["a", "b"]


def test_a_lease_shorter_than_a_send_is_refused() -> None:
    with pytest.raises(ValidationError, match="sending_lease_s"):
        NotificationSettings(send_timeout_s=30, sending_lease_s=10)


def test_cursor_round_trips_and_rejects_anything_else() -> None:
    position = (NOW, "a" * 64)
    assert decode_cursor(encode_cursor(position)) == position
    for forged in ("bm90IGpzb24", encode_cursor((NOW, "x")), "W1sxXV0"):
        with pytest.raises(Problem) as problem:
            decode_cursor(forged)
        assert problem.value.status == 422
