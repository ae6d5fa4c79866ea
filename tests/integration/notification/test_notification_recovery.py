"""Crash safety of the delivery log, in-process against the real store, broker, SMTP
server and gateway: what the retry worker does with deliveries a dead process left
behind, and that two workers never make the same attempt."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from aiokafka.structs import ConsumerRecord
from pymongo import AsyncMongoClient

from chassis.events import (
    DeliveryChannel,
    NotificationFailed,
    NotificationSent,
    Topics,
    decode,
    encode,
)
from chassis.kafka import ConsumedEvent, EventPublisher, ensure_topics
from chassis.mongo import StoreClient
from chassis.privacy import mask_phone
from notification.adapters.consumer import notice_of
from notification.adapters.email import SmtpSender
from notification.adapters.store import DeliveryStore
from notification.domain.messages import TemplateCatalogue
from notification.main import build_senders
from notification.service import Deliverer, LifecycleNotice, NoticeHandler, RetryWorker
from notification.service.ports import Outgoing, Sender, utcnow
from notification.settings import NotificationSettings
from tests.integration.notification.notification_harness import (
    INBOX_PATH,
    NEW_SECRET,
    SMS_PATH,
    SMS_TOKEN,
    FakeGateway,
    TopicReader,
    new_dossier,
    recipient,
    status_changed,
)
from tests.support.infra import Infra
from tests.support.mail import MailSink
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


@dataclass
class Parts:
    settings: NotificationSettings
    store: DeliveryStore
    deliverer: Deliverer
    handlers: NoticeHandler
    reader: TopicReader
    senders: dict[DeliveryChannel, Sender]
    publisher: EventPublisher

    def worker(self) -> RetryWorker:
        return RetryWorker(self.settings, self.store, self.deliverer)


@pytest.fixture(scope="module")
async def parts(
    infra: Infra, run_id: str, notification_mail: MailSink, gateway: FakeGateway
) -> AsyncIterator[Parts]:
    settings = NotificationSettings(
        kafka_bootstrap_servers=infra.kafka,
        kafka_topic_prefix=f"{run_id}-notification-recovery.",
        mongodb_database=f"{run_id}_notification_recovery",
        smtp_host="127.0.0.1",
        smtp_port=notification_mail.port,
        sms_gateway_url=gateway.url + SMS_PATH,
        sms_gateway_token=SMS_TOKEN,
        portal_webhook_url=gateway.url + INBOX_PATH,
        webhook_secrets=[NEW_SECRET],
        max_attempts=3,
        retry_initial_s=0.1,
        retry_max_s=0.2,
        send_timeout_s=2,
        sending_lease_s=3,
        publish_grace_s=0,
    )
    await ensure_topics(settings)
    publisher = EventPublisher(settings)
    await publisher.start()
    client: StoreClient = AsyncMongoClient(infra.mongodb, tz_aware=True)
    store = DeliveryStore(client[settings.mongodb_database])
    await store.create_indexes()
    http = httpx.AsyncClient(timeout=5)
    senders = build_senders(settings, http)
    deliverer = Deliverer(settings, store, senders, publisher)
    handlers = NoticeHandler(settings, TemplateCatalogue(settings.lookup_url), store, deliverer)
    reader = TopicReader(infra.kafka, settings.kafka_topic_prefix)
    await reader.start()
    try:
        yield Parts(settings, store, deliverer, handlers, reader, senders, publisher)
    finally:
        await reader.stop()
        await http.aclose()
        await publisher.stop()
        await client.drop_database(settings.mongodb_database)
        await client.close()


def _consumed(envelope: Any, offset: int = 0) -> LifecycleNotice:
    """A lifecycle event as the consumer loop hands it over, read by the consumer."""
    _, payload = decode(encode(envelope))
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        topic=Topics.LIFECYCLE,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=envelope.subject.encode(),
        value=encode(envelope),
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=(),
    )
    return notice_of(ConsumedEvent(envelope, payload, record))


async def _claimed_and_leased(parts: Parts, **contact: Any) -> dict[str, dict[str, Any]]:
    """Deliveries of one fresh notice as a consumer inserted them (each its own first
    attempt under way), by a process that then died: the lease is already over. Keyed
    by channel."""
    dossier_id, receipt = new_dossier()
    item = _consumed(status_changed(dossier_id, receipt, "approved", recipient(**contact)))
    planned = parts.handlers.plan(item, utcnow() - timedelta(seconds=200))
    assert all(p.inline and p.document["status"] == "sending" for p in planned)
    created = await parts.store.insert_new([p.document for p in planned])
    assert created == {p.document["_id"] for p in planned}
    return {p.document["channel"]: p.document for p in planned}


async def _send_as_the_dead_process(parts: Parts, delivery: dict[str, Any]) -> None:
    sender = parts.senders[DeliveryChannel(delivery["channel"])]
    await sender.send(
        Outgoing(delivery["_id"], delivery["address"], delivery["language"], delivery["content"])
    )


def _phone() -> str:
    return f"09{secrets.randbelow(10**8):08d}"


async def test_an_idempotent_channel_is_retried_after_a_crash_and_received_once(
    parts: Parts, gateway: FakeGateway
) -> None:
    phone = _phone()
    leased = await _claimed_and_leased(parts, phone=phone, portal_account="cd-crash-sms-1")
    number = "+84" + phone[1:]
    sms = leased["sms"]
    # The dead process did get its SMS out before it died.
    await _send_as_the_dead_process(parts, sms)

    await parts.worker().run_once()

    after = await parts.store.get(sms["_id"])
    assert after is not None
    assert after["status"] == "sent"
    assert after["attempts"] == 2
    requests = gateway.requests_for(number, SMS_PATH)
    assert [r.verdict for r in requests] == ["accepted", "duplicate"]
    assert {r.json["reference"] for r in requests} == {sms["_id"]}
    webhook = await parts.store.get(leased["webhook"]["_id"])
    assert webhook is not None
    assert webhook["status"] == "sent"
    assert len(gateway.accepted("cd-crash-sms-1", INBOX_PATH)) == 1

    async def told_audit() -> list[Any]:
        return [
            s
            for s in parts.reader.outcomes()
            if isinstance(s.payload, NotificationSent) and s.payload.delivery_id == sms["_id"]
        ]

    (event,) = await eventually(told_audit, what="notification.sent after the take-over")
    assert event.payload.attempts == 2
    assert event.payload.recipient_masked == mask_phone(number)


async def test_an_email_interrupted_by_a_crash_is_failed_visibly_not_sent_again(
    parts: Parts, notification_mail: MailSink
) -> None:
    address = f"crash.{secrets.token_hex(4)}@example.vn"
    leased = await _claimed_and_leased(parts, email=address)
    email = leased["email"]
    await _send_as_the_dead_process(parts, email)

    await parts.worker().run_once()

    after = await parts.store.get(email["_id"])
    assert after is not None
    assert after["status"] == "failed"
    assert after["history"][-1]["outcome"] == "interrupted"
    assert f"<{email['_id']}@hoso>" in after["last_error"]
    assert len(notification_mail.to(address)) == 1

    async def failure_and_dead_letter() -> bool:
        failed = [
            s
            for s in parts.reader.outcomes()
            if isinstance(s.payload, NotificationFailed) and s.payload.delivery_id == email["_id"]
        ]
        letters = [
            s
            for s in parts.reader.dead_letters()
            if s.headers.get("dlq_delivery_id") == email["_id"].encode()
        ]
        return len(failed) == 1 and len(letters) == 1

    await eventually(failure_and_dead_letter, what="notification.failed and a dead letter")


@pytest.fixture
def slow_mail() -> Iterator[MailSink]:
    yield from _running(MailSink(answer_delay_s=3.0))


@pytest.fixture
def late_mail() -> Iterator[MailSink]:
    yield from _running(MailSink(answer_delay_s=0.6))


@pytest.fixture
def slow_envelope_mail() -> Iterator[MailSink]:
    yield from _running(MailSink(recipient_delay_s=3.0))


def _running(sink: MailSink) -> Iterator[MailSink]:
    sink.start()
    yield sink
    sink.stop()


async def _first_attempt_through(
    parts: Parts, mail: MailSink, who: str
) -> tuple[str, dict[str, Any], dict[str, Any], Deliverer]:
    """A fresh email delivery's attempt through ``mail`` with a limit of 0.3 s; returns the
    address, the delivery as claimed and as recorded afterwards, and the deliverer."""
    address = f"{who}.{secrets.token_hex(4)}@example.vn"
    email = (await _claimed_and_leased(parts, email=address))["email"]
    settings = parts.settings.model_copy(update={"smtp_port": mail.port, "send_timeout_s": 1.0})
    senders: dict[DeliveryChannel, Sender] = {DeliveryChannel.EMAIL: SmtpSender(settings)}
    deliverer = Deliverer(settings, parts.store, senders, parts.publisher)
    recorded = await deliverer.attempt(email, timeout_s=0.3)
    assert recorded is not None
    return address, email, recorded, deliverer


async def test_an_email_whose_answer_never_came_is_failed_visibly_not_sent_again(
    parts: Parts, slow_mail: MailSink
) -> None:
    """The server has the message but answers after the attempt's limit: repeating it
    could put it in the citizen's mailbox twice."""
    address, email, recorded, deliverer = await _first_attempt_through(
        parts, slow_mail, "slow.answer"
    )

    assert recorded["status"] == "failed_unpublished"
    assert recorded["history"][-1]["outcome"] == "interrupted"
    assert "delivery unknown" in recorded["last_error"]
    assert f"<{email['_id']}@hoso>" in recorded["last_error"]
    await RetryWorker(parts.settings, parts.store, deliverer).run_once()
    assert len(slow_mail.to(address)) == 1
    after = await parts.store.get(email["_id"])
    assert after is not None
    assert after["status"] == "failed"
    assert after["attempts"] == 1


async def test_an_answer_after_the_attempts_limit_but_within_the_send_timeout_counts(
    parts: Parts, late_mail: MailSink
) -> None:
    """Once the message is on the wire the attempt waits for the answer (here 0.6 s)
    past its own limit (0.3 s), up to the send timeout (1 s): sent, not in doubt."""
    address, _, recorded, _ = await _first_attempt_through(parts, late_mail, "late.answer")

    assert recorded["status"] == "sent_unpublished"
    assert recorded["history"][-1]["outcome"] == "sent"
    assert len(late_mail.to(address)) == 1


async def test_an_email_timed_out_before_it_was_handed_over_is_retried(
    parts: Parts, slow_envelope_mail: MailSink
) -> None:
    address, _, recorded, _ = await _first_attempt_through(
        parts, slow_envelope_mail, "slow.envelope"
    )

    assert recorded["status"] == "retry_scheduled"
    assert recorded["history"][-1]["outcome"] == "retry"
    assert slow_envelope_mail.to(address) == []


async def test_an_outcome_whose_event_was_lost_is_published_again_under_the_same_id(
    parts: Parts,
) -> None:
    leased = await _claimed_and_leased(parts, portal_account="cd-unpublished-1")
    webhook = leased["webhook"]
    # The process sent and recorded the outcome, then lost the broker before publishing.
    recorded = await parts.store.finish_attempt(
        webhook,
        webhook["attempts"],
        fields={
            "status": "sent_unpublished",
            "sent_at": utcnow(),
            "outcome_event_id": "evt-kept-" + secrets.token_hex(6),
            "outcome_at": utcnow(),
            "publish_at": utcnow(),
            "updated_at": utcnow(),
        },
        history={"attempt": 1, "at": utcnow(), "outcome": "sent"},
    )
    assert recorded is not None

    worker = parts.worker()
    await worker.run_once()
    await worker.run_once()  # a second round finds nothing left to publish

    after = await parts.store.get(webhook["_id"])
    assert after is not None
    assert after["status"] == "sent"

    async def published() -> list[Any]:
        return [s for s in parts.reader.outcomes() if s.envelope.id == recorded["outcome_event_id"]]

    (event,) = await eventually(published, what="the kept event id on the outcome topic")
    assert isinstance(event.payload, NotificationSent)
    assert event.payload.delivery_id == webhook["_id"]


async def test_replicas_racing_for_the_same_due_retries_make_each_attempt_once(
    parts: Parts, gateway: FakeGateway, infra: Infra
) -> None:
    """Three retry workers, each with its own client, store and deliverer as three
    replicas have them, poll one database at once. Half the receivers refuse the first
    attempt, so second attempts are raced for too."""
    numbers: list[str] = []
    refusing: set[str] = set()
    ids: set[str] = set()
    for n in range(16):
        phone = _phone()
        number = "+84" + phone[1:]
        numbers.append(number)
        if n % 2:
            refusing.add(number)
            gateway.script(number, 503)
        dossier_id, receipt = new_dossier()
        planned = parts.handlers.plan(
            _consumed(status_changed(dossier_id, receipt, "approved", recipient(phone=phone))),
            utcnow(),
        )
        for p in planned:  # left for the workers, as while the channel is paused
            p.document.update(
                status="pending",
                attempts=0,
                lease_until=None,
                next_attempt_at=utcnow() - timedelta(seconds=1),
            )
        assert [p.document["channel"] for p in planned] == ["sms"]
        ids |= await parts.store.insert_new([p.document for p in planned])
    assert len(ids) == len(numbers)

    # A grace long enough that only the worker that settled an outcome publishes it.
    settings = parts.settings.model_copy(update={"publish_grace_s": 30.0})
    clients: list[StoreClient] = []
    workers = []
    for _ in range(3):
        client: StoreClient = AsyncMongoClient(infra.mongodb, tz_aware=True)
        clients.append(client)
        store = DeliveryStore(client[settings.mongodb_database])
        deliverer = Deliverer(settings, store, parts.senders, parts.publisher)
        workers.append(RetryWorker(settings, store, deliverer))
    try:

        async def all_sent() -> bool:
            await asyncio.gather(*(w.run_once() for w in workers))
            states = [await parts.store.get(i) for i in ids]
            return all(d is not None and d["status"] == "sent" for d in states)

        await eventually(all_sent, timeout_s=30, every_s=0.05, what="every delivery sent")
    finally:
        for client in clients:
            await client.close()

    for number in numbers:
        verdicts = [r.verdict for r in gateway.requests_for(number, SMS_PATH)]
        assert verdicts == (["failed", "accepted"] if number in refusing else ["accepted"])
    for delivery_id in ids:
        after = await parts.store.get(delivery_id)
        assert after is not None
        attempts = 2 if after["address"] in refusing else 1
        assert after["attempts"] == attempts
        assert [h["attempt"] for h in after["history"]] == list(range(1, attempts + 1))

    def sent_events() -> list[Any]:
        return [
            s
            for s in parts.reader.seen
            if isinstance(s.payload, NotificationSent) and s.payload.delivery_id in ids
        ]

    async def all_told() -> bool:
        return len({s.envelope.id for s in sent_events()}) == len(ids)

    await eventually(all_told, what="one notification.sent per delivery")
    await asyncio.sleep(1)  # a second publication, had there been one, would be here now
    assert len(sent_events()) == len(ids)
