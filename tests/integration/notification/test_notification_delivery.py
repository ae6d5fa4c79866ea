"""The notification service as a real process between a real broker, a real store, a
real SMTP server and a local HTTP gateway standing in for the SMS operator and the
portal inbox.

The tests share one process and run in file order: the operator API and the
re-consumption test look at what the earlier tests delivered.
"""

from __future__ import annotations

import json
import re
import secrets
from collections import Counter
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from chassis.events import DossierKind, Envelope, NotificationFailed, NotificationSent, Topics
from chassis.kafka import EventPublisher
from notification.webhook_verify import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    DuplicateDelivery,
    InvalidSignature,
    ReplayGuard,
    verify_delivery,
)
from tests.integration.notification.notification_harness import (
    HANG,
    INBOX_PATH,
    MAX_ATTEMPTS,
    NEW_SECRET,
    OLD_SECRET,
    SMS_PATH,
    Deployed,
    FakeGateway,
    Received,
    TopicReader,
    new_dossier,
    overdue,
    recipient,
    status_changed,
)
from tests.support.infra import Infra
from tests.support.mail import MailSink
from tests.support.tokens import bearer
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

# Every address, number, account and name the tests hand to the service: none of them
# may show up in its log.
PERSONAL: set[str] = set()
PUBLISHED: list[Envelope] = []
# What the earlier tests leave for the later ones.
SHARED: dict[str, Any] = {}


def _contact(language: str = "vi", name: str | None = "Nguyễn Văn An", **extra: Any) -> Any:
    tag = secrets.token_hex(4)
    phone = f"09{secrets.randbelow(10**8):08d}"
    contact = {
        "email": f"citizen.{tag}@example.vn",
        "phone": phone,
        "portal_account": f"cd-0790{secrets.randbelow(10**8):08d}",
    }
    contact.update(extra)
    PERSONAL.update(v for v in contact.values() if isinstance(v, str))
    if contact.get("phone"):
        PERSONAL.add("+84" + str(contact["phone"])[1:])
    if name:
        PERSONAL.add(name)
    return recipient(language=language, name=name, **contact)


def _e164(phone: str) -> str:
    return "+84" + phone[1:]


async def _publish(publisher: EventPublisher, *envelopes: Envelope) -> None:
    for envelope in envelopes:
        await publisher.publish(envelope)
        PUBLISHED.append(envelope)


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def _html(message: EmailMessage) -> str | None:
    part = message.get_body(preferencelist=("html",))
    return None if part is None else str(part.get_content())  # type: ignore[attr-defined]


def _readable(message: EmailMessage) -> str:
    """Everything a reader of the email sees: decoded headers and both bodies."""
    headers = "\n".join(f"{k}: {v}" for k, v in message.items())
    return "\n".join([headers, _text(message), _html(message) or ""])


def _header(headers: dict[str, str], name: str) -> str:
    return next(v for k, v in headers.items() if k.lower() == name.lower())


def _operator(jwt_secret: str) -> dict[str, str]:
    return bearer(jwt_secret, "ops-1", "operator")


async def _deliveries(
    client: httpx.AsyncClient, notification: Deployed, jwt_secret: str, **params: str
) -> list[dict[str, Any]]:
    response = await client.get(
        f"{notification.service.url}/v1/deliveries",
        params={"limit": "200", **params},
        headers=_operator(jwt_secret),
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


# --------------------------------------------------------------------------- channels


async def test_each_status_change_reaches_the_citizen_once_per_channel_in_their_language(
    notification: Deployed,
    lifecycle_publisher: EventPublisher,
    notification_mail: MailSink,
    gateway: FakeGateway,
    outcomes: TopicReader,
) -> None:
    vi_id, vi_receipt = new_dossier()
    en_id, en_receipt = new_dossier()
    vi_to = _contact("vi")
    en_to = _contact("en", name="Lê Thị Hoa")
    await _publish(
        lifecycle_publisher,
        # An internal step: nobody is told, and the notices after it prove it was read.
        status_changed(vi_id, vi_receipt, "in_review", vi_to, version=1),
        status_changed(vi_id, vi_receipt, "received", vi_to, version=2),
        status_changed(en_id, en_receipt, "approved", en_to, result_reference="125/GP-STNMT"),
        status_changed(
            vi_id,
            vi_receipt,
            "supplement_requested",
            vi_to,
            version=3,
            reason="Thiếu bản vẽ vị trí giếng khoan",
        ),
    )

    async def all_delivered() -> bool:
        return (
            len(notification_mail.to(vi_to.email)) == 2
            and len(notification_mail.to(en_to.email)) == 1
            and len(gateway.accepted(_e164(vi_to.phone), SMS_PATH)) == 2
            and len(gateway.accepted(_e164(en_to.phone), SMS_PATH)) == 1
            and len(gateway.accepted(vi_to.portal_account, INBOX_PATH)) == 2
            and len(gateway.accepted(en_to.portal_account, INBOX_PATH)) == 1
            and len(outcomes.outcomes(vi_id)) == 6
            and len(outcomes.outcomes(en_id)) == 3
        )

    await eventually(all_delivered, timeout_s=30, what="every notice on every channel")

    # Email, Vietnamese: in event order, addressed by name, with the receipt code.
    received, supplement = notification_mail.to(vi_to.email)
    assert vi_receipt in received["Subject"]
    assert "tiếp nhận" in received["Subject"]
    assert vi_receipt in supplement["Subject"]
    assert "bổ sung" in supplement["Subject"]
    assert received["Content-Language"] == "vi"
    assert "Kính gửi Nguyễn Văn An" in _text(received)
    assert "Thiếu bản vẽ vị trí giếng khoan" in _text(supplement)
    html = _html(supplement)
    assert html is not None
    assert vi_receipt in html
    for message in (received, supplement):
        # Long headers are folded on the wire; a reader unfolds and trims them.
        assert message["Message-ID"].strip() == f"<{message['X-Hoso-Delivery'].strip()}@hoso>"
        # The portal account is built from the citizen ID; no message may carry it.
        assert vi_to.portal_account[3:] not in _readable(message)

    # Email, English.
    (approved,) = notification_mail.to(en_to.email)
    assert approved["Subject"] == f"Result ready for dossier {en_receipt}"
    assert approved["Content-Language"] == "en"
    assert "Dear Lê Thị Hoa" in _text(approved)
    assert "125/GP-STNMT" in _text(approved)
    assert "Kính gửi" not in _text(approved)

    # SMS: GSM text, Vietnamese without diacritics, through the gateway with its token.
    vi_sms = [r.json for r in gateway.accepted(_e164(vi_to.phone), SMS_PATH)]
    assert "da duoc tiep nhan" in vi_sms[0]["text"]
    assert vi_receipt in vi_sms[0]["text"]
    assert "can bo sung" in vi_sms[1]["text"]
    assert all(m["text"].isascii() for m in vi_sms)
    (en_sms,) = [r.json for r in gateway.accepted(_e164(en_to.phone), SMS_PATH)]
    assert f"Dossier {en_receipt}: result ready (125/GP-STNMT)" in en_sms["text"]

    # Portal inbox: signed (the fake portal verified it), titled in the right language.
    inbox = [r.json for r in gateway.accepted(vi_to.portal_account, INBOX_PATH)]
    assert [item["status"] for item in inbox] == ["received", "supplement_requested"]
    assert all(item["language"] == "vi" and vi_receipt in item["title"] for item in inbox)
    (en_inbox,) = gateway.accepted(en_to.portal_account, INBOX_PATH)
    assert en_inbox.json["title"] == f"Result ready for dossier {en_receipt}"
    assert en_inbox.json["delivery_id"] == _header(en_inbox.headers, DELIVERY_HEADER)

    # Audit hears of each delivery once, with the recipient masked.
    sent = outcomes.outcomes(vi_id)
    assert all(isinstance(s.payload, NotificationSent) for s in sent)
    assert Counter(s.payload.channel for s in sent) == {"email": 2, "sms": 2, "webhook": 2}  # type: ignore[attr-defined]
    assert len({s.payload.delivery_id for s in sent}) == 6  # type: ignore[attr-defined]
    assert len({s.envelope.id for s in sent}) == 6
    for seen in sent + outcomes.outcomes(en_id):
        masked = seen.payload.recipient_masked  # type: ignore[attr-defined]
        assert "***" in masked
        assert not any(value in masked for value in PERSONAL)

    SHARED["vi"] = (vi_id, vi_to)
    SHARED["en_webhook"] = en_inbox


async def test_a_denouncer_is_never_named_whatever_the_event_says(
    notification: Deployed,
    lifecycle_publisher: EventPublisher,
    notification_mail: MailSink,
    gateway: FakeGateway,
) -> None:
    dossier_id, receipt = new_dossier()
    # A producer mistake: a denunciation whose recipient still carries a name.
    to = _contact("vi", name="Trần Văn Tố", phone=None)
    await _publish(
        lifecycle_publisher,
        status_changed(dossier_id, receipt, "received", to, kind=DossierKind.DENUNCIATION),
    )

    async def delivered() -> bool:
        return bool(notification_mail.to(to.email)) and bool(
            gateway.accepted(to.portal_account, INBOX_PATH)
        )

    await eventually(delivered, timeout_s=30, what="the denouncer's notices")
    (message,) = notification_mail.to(to.email)
    assert "Trần Văn Tố" not in _readable(message)
    assert "Kính gửi Quý công dân" in _text(message)
    (inbox,) = gateway.accepted(to.portal_account, INBOX_PATH)
    assert "Trần Văn Tố" not in inbox.body.decode()


# --------------------------------------------------------------------------- signatures


def test_webhook_signatures_verify_and_tampered_or_replayed_deliveries_are_rejected() -> None:
    delivery: Received = SHARED["en_webhook"]
    body, headers = delivery.body, delivery.headers
    signature = re.search(r"t=(\d+)", _header(headers, SIGNATURE_HEADER))
    assert signature is not None
    timestamp = int(signature.group(1))

    # Mid-rotation the portal may hold either secret; both verify.
    for held in (NEW_SECRET, OLD_SECRET):
        assert (
            verify_delivery(body, headers, held.encode(), ReplayGuard())
            == delivery.json["delivery_id"]
        )

    guard = ReplayGuard()
    verify_delivery(body, headers, NEW_SECRET.encode(), guard)
    with pytest.raises(DuplicateDelivery):
        verify_delivery(body, headers, NEW_SECRET.encode(), guard)
    # The delivery id is not signed; a replay under a made-up one is still caught.
    with pytest.raises(DuplicateDelivery):
        verify_delivery(body, headers | {DELIVERY_HEADER: "made-up"}, NEW_SECRET.encode(), guard)

    tampered = body.replace(b"Result ready", b"Result revoked")
    assert tampered != body
    with pytest.raises(InvalidSignature) as mismatch:
        verify_delivery(tampered, headers, NEW_SECRET.encode(), ReplayGuard())
    assert mismatch.value.reason == "signature_mismatch"

    with pytest.raises(InvalidSignature) as late:
        verify_delivery(body, headers, NEW_SECRET.encode(), ReplayGuard(), now=timestamp + 301)
    assert late.value.reason == "timestamp_too_old"

    with pytest.raises(InvalidSignature) as foreign:
        verify_delivery(body, headers, b"a secret the service never had", ReplayGuard())
    assert foreign.value.reason == "signature_mismatch"


# --------------------------------------------------------------------------- retries


async def test_a_gateway_failing_twice_then_succeeding_gives_one_delivery_of_three_attempts(
    notification: Deployed,
    lifecycle_publisher: EventPublisher,
    notification_mail: MailSink,
    gateway: FakeGateway,
    outcomes: TopicReader,
    jwt_secret: str,
) -> None:
    dossier_id, receipt = new_dossier()
    # Opted out of SMS: a rejection is legally required and goes out anyway, the
    # courtesy notice of receipt does not.
    to = _contact("vi", sms_opt_out=True)
    number = _e164(to.phone)
    gateway.script(number, 503, 503)
    await _publish(
        lifecycle_publisher,
        status_changed(dossier_id, receipt, "rejected", to, reason="Không thuộc thẩm quyền"),
        status_changed(dossier_id, receipt, "received", to, version=2),
    )

    async with httpx.AsyncClient(timeout=10) as client:

        async def sms_sent() -> list[dict[str, Any]] | None:
            items = await _deliveries(
                client, notification, jwt_secret, dossier_id=dossier_id, channel="sms"
            )
            return items if items and items[0]["status"] == "sent" else None

        (delivery,) = await eventually(sms_sent, timeout_s=30, what="the SMS after two failures")

        async def both_emails() -> list[dict[str, Any]] | None:
            items = await _deliveries(
                client, notification, jwt_secret, dossier_id=dossier_id, channel="email"
            )
            return items if len(items) == 2 else None

        # Both notices go by email; only the legally required one by SMS.
        emails = await eventually(both_emails, what="an email for each notice")

    assert delivery["attempts"] == 3
    assert [h["outcome"] for h in delivery["history"]] == ["retry", "retry", "sent"]
    assert "HTTP 503" in delivery["history"][0]["error"]
    requests = gateway.requests_for(number, SMS_PATH)
    assert [r.status for r in requests] == [503, 503, 200]
    assert {r.json["reference"] for r in requests} == {delivery["id"]}
    assert {e["notice_status"] for e in emails} == {"rejected", "received"}

    async def sent_event() -> list[Any]:
        return [
            s
            for s in outcomes.outcomes(dossier_id)
            if s.payload.delivery_id == delivery["id"]  # type: ignore[attr-defined]
        ]

    (event,) = await eventually(sent_event, what="notification.sent for the SMS")
    assert isinstance(event.payload, NotificationSent)
    assert event.payload.attempts == 3


async def test_a_gateway_down_for_good_fails_visibly_while_other_dossiers_flow(
    notification: Deployed,
    lifecycle_publisher: EventPublisher,
    notification_mail: MailSink,
    gateway: FakeGateway,
    outcomes: TopicReader,
) -> None:
    refusing_id, refusing_receipt = new_dossier()
    hanging_id, hanging_receipt = new_dossier()
    unknown_id, unknown_receipt = new_dossier()
    refusing, hanging, unknown = _contact("vi"), _contact("en"), _contact("vi")
    gateway.always(_e164(refusing.phone), 503)
    gateway.always(_e164(hanging.phone), HANG)
    # A refusal that will not change (the number is not a subscriber): no retries.
    gateway.always(_e164(unknown.phone), 400)
    poison_id, poison_receipt = new_dossier()
    others = [(new_dossier(), _contact("vi")) for _ in range(4)]
    await _publish(
        lifecycle_publisher,
        status_changed(refusing_id, refusing_receipt, "approved", refusing),
        status_changed(hanging_id, hanging_receipt, "approved", hanging),
        status_changed(unknown_id, unknown_receipt, "approved", unknown),
        status_changed(poison_id, poison_receipt, "teleported", _contact()),
        *(overdue(dossier_id, receipt, to) for (dossier_id, receipt), to in others),
    )

    def failed_sms(dossier_id: str) -> NotificationFailed | None:
        for seen in outcomes.outcomes(dossier_id):
            if isinstance(seen.payload, NotificationFailed):
                return seen.payload
        return None

    async def all_failed() -> bool:
        return all(failed_sms(d) is not None for d in (refusing_id, hanging_id, unknown_id))

    await eventually(all_failed, timeout_s=40, what="notification.failed for each number")

    for dossier_id, error, attempts in (
        (refusing_id, "HTTP 503", MAX_ATTEMPTS),
        (hanging_id, "no answer within", MAX_ATTEMPTS),
        (unknown_id, "HTTP 400", 1),
    ):
        failure = failed_sms(dossier_id)
        assert failure is not None
        assert failure.channel == "sms"
        assert failure.attempts == attempts
        assert error in failure.error
        # Email and inbox of the same dossier were not held back by the SMS.
        assert {s.payload.channel for s in outcomes.outcomes(dossier_id)} == {  # type: ignore[attr-defined]
            "email",
            "sms",
            "webhook",
        }

    # Every other dossier was told on every channel, and audit heard of it before the
    # hanging gateway had used up its attempts.
    hanging_failed_at = next(
        i
        for i, s in enumerate(outcomes.seen)
        if isinstance(s.payload, NotificationFailed) and s.payload.dossier_id == hanging_id
    )
    for (dossier_id, _), to in others:
        assert len(notification_mail.to(to.email)) == 1
        assert len(gateway.accepted(_e164(to.phone), SMS_PATH)) == 1
        assert len(gateway.accepted(to.portal_account, INBOX_PATH)) == 1
        first_seen: dict[str, int] = {}
        for i, s in enumerate(outcomes.seen):
            if getattr(s.payload, "dossier_id", None) == dossier_id:
                first_seen.setdefault(s.envelope.id, i)
        positions = list(first_seen.values())
        assert len(positions) == 3
        assert max(positions) < hanging_failed_at

    # The dead-letter topic holds each failed delivery and the event nobody could word.
    async def dead_letters() -> list[Any] | None:
        letters = outcomes.dead_letters()
        by_delivery = {s.headers.get("dlq_delivery_id", b"").decode() for s in letters}
        wanted = {failed_sms(refusing_id).delivery_id, failed_sms(hanging_id).delivery_id}  # type: ignore[union-attr]
        poison = [s for s in letters if getattr(s.payload, "dossier_id", None) == poison_id]
        return letters if wanted <= by_delivery and poison else None

    letters = await eventually(dead_letters, what="dead letters for the failures")
    (poison,) = [s for s in letters if getattr(s.payload, "dossier_id", None) == poison_id]
    assert b"UnknownStatusError" in poison.headers["dlq_reason"]
    assert poison.headers["dlq_source_topic"] == f"{notification.prefix}{Topics.LIFECYCLE}".encode()
    SHARED["refusing"] = (refusing_id, refusing, failed_sms(refusing_id))


# --------------------------------------------------------------------------- operator API


async def test_operators_see_deliveries_but_no_addresses_and_bad_parameters_are_refused(
    notification: Deployed, jwt_secret: str
) -> None:
    vi_id, vi_to = SHARED["vi"]
    url = f"{notification.service.url}/v1/deliveries"
    async with httpx.AsyncClient(timeout=10) as client:
        anonymous = await client.get(url)
        officer = await client.get(url, headers=bearer(jwt_secret, "o-1", "officer"))
        assert anonymous.status_code == 401
        assert officer.status_code == 403
        assert anonymous.headers["content-type"].startswith("application/problem+json")

        pages: list[list[dict[str, Any]]] = []
        cursor: str | None = None
        while True:
            params = {"dossier_id": vi_id, "limit": "4"} | ({"cursor": cursor} if cursor else {})
            response = await client.get(url, params=params, headers=_operator(jwt_secret))
            assert response.status_code == 200, response.text
            for value in (vi_to.email, vi_to.phone, vi_to.portal_account, "Nguyễn Văn An"):
                assert value not in response.text
            pages.append(response.json()["items"])
            cursor = response.json()["next_cursor"]
            if cursor is None:
                break
        items = [item for page in pages for item in page]
        assert [len(page) for page in pages] == [4, 2]
        assert len({item["id"] for item in items}) == 6
        assert [i["created_at"] for i in items] == sorted(
            (i["created_at"] for i in items), reverse=True
        )
        assert {i["status"] for i in items} == {"sent"}

        filtered = await _deliveries(client, notification, jwt_secret, status="failed")
        assert filtered
        assert all(i["status"] == "failed" for i in filtered)
        failed_sms = await _deliveries(
            client, notification, jwt_secret, status="failed", channel="sms"
        )
        assert {i["channel"] for i in failed_sms} == {"sms"}

        for params in (
            {"dossier_id": '{"$ne": null}'},
            {"dossier_id[$ne]": "x"},
            {"status": "sent' || '1'=='1"},
            {"channel": "fax"},
            {"limit": "0"},
            {"limit": "100000"},
            {"cursor": "!!!"},
            {"cursor": "eyJub3QiOiAiYSBjdXJzb3IifQ"},
        ):
            response = await client.get(url, params=params, headers=_operator(jwt_secret))
            assert response.status_code == 422, (params, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        bad_id = await client.get(f"{url}/..%2f..%2fadmin", headers=_operator(jwt_secret))
        assert bad_id.status_code in (404, 422)
        unknown = await client.get(f"{url}/{'0' * 64}", headers=_operator(jwt_secret))
        assert unknown.status_code == 404


async def test_an_operator_resends_a_failed_delivery_under_the_same_id(
    notification: Deployed,
    gateway: FakeGateway,
    outcomes: TopicReader,
    jwt_secret: str,
) -> None:
    _, refusing, failure = SHARED["refusing"]
    url = f"{notification.service.url}/v1/deliveries/{failure.delivery_id}"
    operator = _operator(jwt_secret)
    async with httpx.AsyncClient(timeout=10) as client:
        before = (await client.get(url, headers=operator)).json()
        assert before["status"] == "failed"
        assert before["attempts"] == MAX_ATTEMPTS
        assert [h["outcome"] for h in before["history"]] == ["retry", "retry", "failed"]
        assert refusing.phone[-6:] not in json.dumps(before)

        gateway.always(_e164(refusing.phone), None)  # the operator fixed the gateway
        response = await client.post(f"{url}/resend", headers=operator)
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "retry_scheduled"

        async def sent() -> dict[str, Any] | None:
            current: dict[str, Any] = (await client.get(url, headers=operator)).json()
            return current if current["status"] == "sent" else None

        after = await eventually(sent, timeout_s=20, what="the resent delivery")
        assert after["id"] == failure.delivery_id
        assert after["attempts"] == MAX_ATTEMPTS + 1
        assert after["resends"] == 1
        assert after["history"][-2]["outcome"] == "resend"
        assert after["history"][-2]["by"] == "operator:ops-1"

        again = await client.post(f"{url}/resend", headers=operator)
        assert again.status_code == 409
        missing = await client.post(
            f"{notification.service.url}/v1/deliveries/{'f' * 64}/resend", headers=operator
        )
        assert missing.status_code == 404

    accepted = gateway.accepted(_e164(refusing.phone), SMS_PATH)
    assert [r.json["reference"] for r in accepted] == [failure.delivery_id]

    async def told_audit() -> list[Any]:
        return [
            s
            for s in outcomes.outcomes()
            if isinstance(s.payload, NotificationSent)
            and s.payload.delivery_id == failure.delivery_id
        ]

    (event,) = await eventually(told_audit, what="notification.sent after the resend")
    assert event.payload.attempts == MAX_ATTEMPTS + 1


async def test_operators_list_and_preview_templates(
    notification: Deployed, jwt_secret: str
) -> None:
    base = f"{notification.service.url}/v1/templates"
    operator = _operator(jwt_secret)
    async with httpx.AsyncClient(timeout=10) as client:
        listing = (await client.get(base, headers=operator)).json()["templates"]
        assert {(t["event_type"], t["language"]) for t in listing} == {
            (event, language)
            for event in (
                "dossier.status-changed.v1",
                "dossier.overdue.v1",
                "dossier.apology-issued.v1",
            )
            for language in ("vi", "en")
        }
        assert all(set(t["channels"]) == {"email", "sms", "webhook"} for t in listing)

        sms = await client.get(
            f"{base}/dossier.status-changed.v1/en/sms/preview",
            params={"status": "approved"},
            headers=operator,
        )
        assert sms.status_code == 200, sms.text
        assert "result ready" in sms.json()["text"]
        assert sms.json()["sms_segments"] == 1
        email = (
            await client.get(f"{base}/dossier.overdue.v1/vi/email/preview", headers=operator)
        ).json()
        assert email["subject"]
        assert email["html"].lstrip().startswith("<")

        for path, params in (
            ("dossier.overdue.v1/vi/email/preview", {"status": "approved"}),
            ("dossier.status-changed.v1/fr/email/preview", {}),
            ("dossier.status-changed.v1/vi/fax/preview", {}),
            ("dossier.status-changed.v1/vi/sms/preview", {"status": "<script>"}),
            ("dossier.deleted.v1/vi/sms/preview", {}),
        ):
            response = await client.get(f"{base}/{path}", params=params, headers=operator)
            assert response.status_code == 422, (path, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")


# --------------------------------------------------------------------------- redelivery


async def test_consuming_the_same_batches_again_after_a_restart_sends_nothing_twice(
    notification: Deployed,
    notification_mail: MailSink,
    gateway: FakeGateway,
    outcomes: TopicReader,
    notification_db: Any,
    infra: Infra,
) -> None:
    unsettled = ["pending", "sending", "retry_scheduled", "sent_unpublished", "failed_unpublished"]

    async def settled() -> bool:
        return (
            await notification_db["deliveries"].count_documents({"status": {"$in": unsettled}}) == 0
        )

    await eventually(settled, timeout_s=30, what="every delivery settled")
    mails, requests, told = (
        len(notification_mail.messages),
        len(gateway.received),
        len(outcomes.outcomes()),
    )

    # The consumer "restarts before it committed": stop it, move the group's committed
    # offsets back to the start of every partition, start it again.
    notification.service.stop()
    topic = f"{notification.prefix}{Topics.LIFECYCLE}"
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka)
    await admin.start()
    rewind = AIOKafkaConsumer(
        bootstrap_servers=infra.kafka, group_id=notification.group, enable_auto_commit=False
    )
    await rewind.start()
    try:
        (described,) = await admin.describe_topics([topic])
        partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
        rewind.assign(partitions)
        await rewind.commit(dict.fromkeys(partitions, 0))
        ends = await rewind.end_offsets(partitions)
        assert sum(ends.values()) == len(PUBLISHED)

        notification.service.start()
        notification.service.wait_ready()

        async def caught_up() -> bool:
            committed = await admin.list_consumer_group_offsets(notification.group)
            return all(tp in committed and committed[tp].offset == end for tp, end in ends.items())

        await eventually(caught_up, timeout_s=40, what="the group to consume everything again")
    finally:
        await rewind.stop()
        await admin.close()

    async with httpx.AsyncClient(timeout=10) as client:
        metrics = (await client.get(f"{notification.service.url}/metrics")).text
    handled = sum(
        float(value)
        for labels, value in re.findall(r"hoso_events_consumed_total\{([^}]*)\} (\S+)", metrics)
        if f'topic="{topic}"' in labels
    )
    assert handled == len(PUBLISHED)  # every event really was handled a second time
    await eventually(settled, what="nothing left to do after the second pass")
    assert len(notification_mail.messages) == mails
    assert len(gateway.received) == requests
    assert len(outcomes.outcomes()) == told


def test_every_delivery_reached_its_receiver_once_and_the_log_names_nobody(
    notification: Deployed, gateway: FakeGateway
) -> None:
    accepted = Counter(
        (r.path, r.json.get("reference") or r.json.get("delivery_id"))
        for r in gateway.received
        if r.verdict == "accepted"
    )
    assert accepted
    assert max(accepted.values()) == 1
    assert gateway.verdicts()["duplicate"] == 0
    assert gateway.verdicts()["rejected"] == 0

    log = notification.log_path.read_text(errors="replace")
    assert "sent on attempt" in log  # the log does speak of deliveries
    leaked = sorted(value for value in PERSONAL if value in log)
    assert leaked == []
