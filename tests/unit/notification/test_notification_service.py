"""Every use case of notification's service layer against in-memory fakes of the delivery
log, the publisher and the channels (tests/unit/notification/fakes.py): a lifecycle
notice planned, claimed and attempted; one attempt and its recorded outcome; telling
audit; the retry worker's pass; the operators' resend, listings and previews. No broker,
store or network."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, get_args

import pytest
from aiokafka.structs import ConsumerRecord

from chassis.events import (
    DeliveryChannel,
    DossierKind,
    DossierOverdue,
    DossierStatusChanged,
    EventType,
    NotificationFailed,
    NotificationSent,
    Recipient,
    Topics,
    decode,
    encode,
    make_event,
)
from chassis.kafka import ConsumedEvent
from notification.adapters.consumer import LifecycleConsumer
from notification.api.templates import NoticeType
from notification.domain.messages import TemplateCatalogue
from notification.domain.policy import NOTICE_TYPES, NotificationDomainError, mask_phone
from notification.service import (
    HANDLED_EVENTS,
    Deliverer,
    DeliveryNotFound,
    InlineGate,
    LifecycleNotice,
    NoticeHandler,
    NotResendable,
    Operators,
    RetryWorker,
    StatusNotApplicable,
)
from notification.service.ports import DeliveryFailure
from notification.settings import NotificationSettings
from tests.unit.notification.fakes import (
    FakeClock,
    FakeDeliveryLog,
    FakePublisher,
    FakeSender,
    accepted_then_hang,
    crash,
    hang,
    hang_after_handover,
    senders,
)

EMAIL = "an@example.vn"
PHONE = "0912345678"
NUMBER = "+84912345678"
ACCOUNT = "cd-079085001234"
DOSSIER = "8f14e45f-ceea-4e6a-9b6f-2d0c1e7a5b31"
# One for all: its templates are compiled once.
CATALOGUE = TemplateCatalogue()
TRACE = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


def settings(**overrides: Any) -> NotificationSettings:
    values: dict[str, Any] = {
        "delivery_key_pepper": "pepper",
        "max_attempts": 3,
        "retry_initial_s": 2.0,
        "retry_max_s": 60.0,
        "first_attempt_timeout_s": 0.05,
        "send_timeout_s": 0.03,
        "sending_lease_s": 5.0,
        "publish_grace_s": 60.0,
        "inline_pause_s": 30.0,
        "delivery_concurrency": 4,
    }
    return NotificationSettings(**(values | overrides))


@dataclass
class World:
    """One replica's use cases wired to fakes; ``replica()`` adds another on the same
    delivery log, as a second process on one database."""

    config: NotificationSettings = field(default_factory=settings)
    log: FakeDeliveryLog = field(default_factory=FakeDeliveryLog)
    publisher: FakePublisher = field(default_factory=FakePublisher)
    channels: dict[DeliveryChannel, FakeSender] = field(default_factory=senders)
    clock: FakeClock = field(default_factory=FakeClock)
    monotonic: list[float] = field(default_factory=lambda: [0.0])

    def __post_init__(self) -> None:
        self.gate = InlineGate(self.config.inline_pause_s, clock=lambda: self.monotonic[0])
        self.deliverer = Deliverer(
            self.config,
            self.log,
            self.channels,
            self.publisher,
            gate=self.gate,
            rng=random.Random(7),
            clock=self.clock,
        )
        self.notices = NoticeHandler(
            self.config, CATALOGUE, self.log, self.deliverer, clock=self.clock
        )
        self.worker = RetryWorker(self.config, self.log, self.deliverer, clock=self.clock)
        self.operators = Operators(self.config, self.log, CATALOGUE, clock=self.clock)

    def replica(self) -> World:
        return World(self.config, self.log, self.publisher, self.channels, self.clock)

    @property
    def email(self) -> FakeSender:
        return self.channels[DeliveryChannel.EMAIL]

    @property
    def sms(self) -> FakeSender:
        return self.channels[DeliveryChannel.SMS]

    @property
    def portal(self) -> FakeSender:
        return self.channels[DeliveryChannel.WEBHOOK]

    def by_channel(self) -> dict[str, dict[str, Any]]:
        return {d["channel"]: d for d in self.log.documents.values()}

    def outcomes(self) -> list[Any]:
        return [decode(encode(p.envelope))[1] for p in self.publisher.events]


def notice(
    new_status: str = "approved",
    *,
    dossier_id: str = DOSSIER,
    event_id: str | None = None,
    kind: DossierKind = DossierKind.PROCEDURE,
    **contact: Any,
) -> LifecycleNotice:
    recipient = {
        "display_name": "Nguyễn Văn An",
        "email": EMAIL,
        "phone": PHONE,
        "portal_account": ACCOUNT,
        "language": "vi",
    } | contact
    clock = FakeClock()
    data = DossierStatusChanged(
        dossier_id=dossier_id,
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
        occurred_at=clock(),
        version=4,
        recipient=Recipient(**recipient),
    )
    return LifecycleNotice(
        event_id=event_id or str(uuid.uuid4()),
        event_type=EventType.STATUS_CHANGED.value,
        occurred_at=clock(),
        data=data,
        trace=dict(TRACE),
    )


# --------------------------------------------------------------------------- a notice


async def test_a_notice_is_sent_once_per_channel_and_audit_is_told_of_each() -> None:
    world = World()
    sent = notice()

    assert await world.notices.handle_batch([sent]) == []

    assert [len(s.delivered) for s in (world.email, world.sms, world.portal)] == [1, 1, 1]
    assert world.sms.delivered[0].address == NUMBER
    deliveries = world.by_channel()
    assert {d["status"] for d in deliveries.values()} == {"sent"}
    assert {d["attempts"] for d in deliveries.values()} == {1}
    outcomes = world.outcomes()
    assert all(isinstance(o, NotificationSent) for o in outcomes)
    assert {o.delivery_id for o in outcomes} == set(world.log.documents)
    assert {o.source_event_id for o in outcomes} == {sent.event_id}
    # Keyed by dossier, continuing the trace the lifecycle event arrived in.
    assert {(p.key, dict(p.trace or {}).get("traceparent")) for p in world.publisher.events} == {
        (DOSSIER, TRACE["traceparent"])
    }
    assert world.publisher.raw == []


async def test_a_notice_consumed_again_sends_and_publishes_nothing_more() -> None:
    world, again = World(), notice()
    await world.notices.handle_batch([again])
    other = world.replica()  # e.g. after a rebalance, another replica gets the batch

    await other.notices.handle_batch([again])
    await world.notices.handle_batch([again])

    assert [len(s.handed) for s in (world.email, world.sms, world.portal)] == [1, 1, 1]
    assert len(world.publisher.events) == 3


async def test_a_notice_without_wording_is_rejected_and_the_rest_of_the_batch_served() -> None:
    world = World()
    unknown, fine = notice("frozen"), notice(dossier_id="d-2")

    rejected = await world.notices.handle_batch([unknown, fine])

    assert [r.notice for r in rejected] == [unknown]
    assert rejected[0].reason.startswith("cannot notify: UnknownStatusError")
    assert {d["dossier_id"] for d in world.log.documents.values()} == {"d-2"}
    assert len(world.email.delivered) == 1


async def test_internal_steps_plan_nothing_and_send_nothing() -> None:
    world = World()
    assert await world.notices.handle_batch([notice("in_review")]) == []
    assert world.log.documents == {}
    assert world.publisher.events == []


async def test_a_denouncer_is_never_named() -> None:
    world = World()
    await world.notices.handle_batch([notice(kind=DossierKind.DENUNCIATION)])
    for message in world.email.delivered + world.sms.delivered + world.portal.delivered:
        assert "Nguyễn Văn An" not in str(message.content)


async def test_one_dossiers_notices_are_attempted_in_event_order() -> None:
    world = World()
    order = [notice(s) for s in ("received", "supplement_requested", "approved")]

    await world.notices.handle_batch(order)

    by_id = {d["_id"]: d["source_event_id"] for d in world.log.documents.values()}
    attempted = [by_id[m.delivery_id] for m in world.email.delivered]
    assert attempted == [n.event_id for n in order]


async def test_after_a_transient_failure_a_channel_is_left_to_the_worker_for_a_while() -> None:
    world = World()
    world.sms.script(NUMBER, DeliveryFailure("gateway answered HTTP 503", transient=True))
    await world.notices.handle_batch([notice()])

    second = notice("rejected")
    await world.notices.handle_batch([second])

    sms = next(
        d
        for d in world.log.documents.values()
        if d["channel"] == "sms" and d["source_event_id"] == second.event_id
    )
    assert (sms["status"], sms["attempts"], sms["next_attempt_at"]) == (
        "pending",
        0,
        world.clock.now,
    )
    assert len(world.sms.handed) == 1  # only the first notice's attempt
    world.monotonic[0] += 30  # the pause is over
    await world.notices.handle_batch([notice("received")])
    assert len(world.sms.handed) == 2


async def test_a_first_attempt_the_store_could_not_record_stays_for_the_worker() -> None:
    world = World()
    world.log.broken["finish_attempt"] = ConnectionError("store away")

    assert await world.notices.handle_batch([notice()]) == []

    assert {d["status"] for d in world.log.documents.values()} == {"sending"}
    assert world.publisher.events == []


async def test_outcomes_wait_unpublished_while_the_broker_is_away() -> None:
    world = World()
    world.publisher.down = True

    await world.notices.handle_batch([notice()])

    assert {d["status"] for d in world.log.documents.values()} == {"sent_unpublished"}
    assert {d["publish_at"] for d in world.log.documents.values()} == {
        world.clock.now + timedelta(seconds=60)
    }


async def test_the_consumer_dead_letters_rejected_notices_with_their_origin() -> None:
    world = World()
    # The fake has the two methods of the chassis publisher the consumer uses.
    consumer = LifecycleConsumer(world.config, world.notices, world.publisher)  # type: ignore[arg-type]
    fine = _consumed(notice(), offset=1)
    unknown = _consumed(notice("frozen"), offset=2)
    overdue = make_event(
        DossierOverdue(
            **notice().data.model_dump(
                include={
                    "dossier_id",
                    "receipt_code",
                    "procedure_code",
                    "procedure_name_vi",
                    "procedure_name_en",
                    "agency",
                    "agency_name_vi",
                    "agency_name_en",
                    "kind",
                    "recipient",
                }
            ),
            due_date=date(2025, 4, 8),
            detected_at=world.clock.now,
        ),
        source="/hoso/processing",
        actor="system:processing",
    )

    await consumer.handle_batch([fine, unknown, _consumed_envelope(overdue, 3)])

    ((topic, value, key, headers),) = world.publisher.raw
    assert topic == world.config.topic(Topics.dead_letter("notification"))
    assert (value, key) == (unknown.record.value, unknown.record.key)
    named = dict(headers)
    assert named["dlq_source_offset"] == b"2"
    assert named["dlq_reason"].startswith(b"cannot notify: UnknownStatusError")
    assert {d["source_event_type"] for d in world.log.documents.values()} == {
        EventType.STATUS_CHANGED.value,
        EventType.OVERDUE.value,
    }


def _consumed(sent: LifecycleNotice, offset: int) -> ConsumedEvent:
    envelope = make_event(
        sent.data, source="/hoso/processing", actor="officer:o-1", event_id=sent.event_id
    )
    return _consumed_envelope(envelope, offset)


def _consumed_envelope(envelope: Any, offset: int) -> ConsumedEvent:
    _, payload = decode(encode(envelope))
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        Topics.LIFECYCLE, 0, offset, 0, 0, DOSSIER.encode(), encode(envelope), None, 0, 0, ()
    )
    return ConsumedEvent(envelope, payload, record)


# --------------------------------------------------------------------------- one attempt


async def _all_leased(world: World) -> dict[str, dict[str, Any]]:
    """One notice's deliveries, by channel, each claimed as its own first attempt by a
    consumer and not attempted yet."""
    planned = world.notices.plan(notice(), world.clock.now)
    await world.log.insert_new([p.document for p in planned])
    return {p.document["channel"]: p.document for p in planned}


async def _leased(world: World, channel: str = "sms") -> dict[str, Any]:
    return (await _all_leased(world))[channel]


async def test_a_delivered_attempt_is_recorded_sent_with_its_outcome_event_fixed() -> None:
    world = World()
    delivery = await _leased(world)

    recorded = await world.deliverer.attempt(delivery, timeout_s=1)

    assert recorded is not None
    assert recorded["status"] == "sent_unpublished"
    assert recorded["history"] == [{"attempt": 1, "at": world.clock.now, "outcome": "sent"}]
    assert recorded["outcome_event_id"] == str(
        uuid.uuid5(uuid.UUID("5b0f6f4e-2d7e-4a53-9a55-8f1f3c2b7a10"), f"{delivery['_id']}#1#sent")
    )
    assert world.log[delivery["_id"]]["lease_until"] is None


async def test_a_transient_failure_schedules_a_retry_and_never_stores_the_address() -> None:
    world = World()
    delivery = await _leased(world)
    world.sms.script(NUMBER, DeliveryFailure(f"gateway refused {NUMBER}", transient=True))

    recorded = await world.deliverer.attempt(delivery, timeout_s=1)

    assert recorded is not None
    assert recorded["status"] == "retry_scheduled"
    wait = (recorded["next_attempt_at"] - world.clock.now).total_seconds()
    assert 1.0 <= wait <= 2.0  # full jitter below the first step, half of it as a floor
    assert NUMBER not in recorded["last_error"]
    assert mask_phone(NUMBER) in recorded["last_error"]
    assert not world.gate.allows(DeliveryChannel.SMS)


async def test_a_gateways_retry_after_is_honoured() -> None:
    world = World()
    delivery = await _leased(world)
    world.sms.script(NUMBER, DeliveryFailure("HTTP 429", transient=True, retry_after_s=30))
    recorded = await world.deliverer.attempt(delivery, timeout_s=1)
    assert recorded is not None
    assert recorded["next_attempt_at"] == world.clock.now + timedelta(seconds=30)


async def test_a_permanent_failure_fails_tells_audit_and_dead_letters_it() -> None:
    world = World()
    delivery = await _leased(world)
    world.sms.script(NUMBER, DeliveryFailure("gateway answered HTTP 400", transient=False))

    recorded = await world.deliverer.attempt(delivery, timeout_s=1)
    assert recorded is not None
    assert recorded["status"] == "failed_unpublished"
    assert await world.deliverer.publish_outcomes([recorded]) == [recorded]

    (failed,) = world.outcomes()
    assert isinstance(failed, NotificationFailed)
    assert failed.error == "gateway answered HTTP 400"
    ((topic, _, key, headers),) = world.publisher.raw
    assert topic.endswith("notification.dlq")
    assert key == DOSSIER.encode()
    assert dict(headers)["dlq_delivery_id"] == delivery["_id"].encode()
    assert world.log[delivery["_id"]]["status"] == "failed"


async def test_the_last_attempt_failing_gives_up_even_if_transient() -> None:
    world = World(config=settings(max_attempts=1))
    delivery = await _leased(world)
    world.sms.script(NUMBER, DeliveryFailure("HTTP 503", transient=True))
    recorded = await world.deliverer.attempt(delivery, timeout_s=1)
    assert recorded is not None
    assert recorded["status"] == "failed_unpublished"
    assert recorded["history"][-1]["outcome"] == "failed"


@pytest.mark.parametrize(
    ("channel", "behaviour", "status", "outcome"),
    [
        # Nothing handed over: safe to try again.
        ("email", hang, "retry_scheduled", "retry"),
        # On the wire, no answer, and email has no idempotency key: never repeated blindly.
        ("email", hang_after_handover, "failed_unpublished", "interrupted"),
        # The same for a receiver that drops a repeated id: simply retried.
        ("sms", hang_after_handover, "retry_scheduled", "retry"),
        # The server took it; only the goodbye hung.
        ("email", accepted_then_hang, "sent_unpublished", "sent"),
        # A defect in a sender is retried within the budget, not fatal.
        ("sms", crash, "retry_scheduled", "retry"),
    ],
)
async def test_an_attempt_without_a_clear_answer(
    channel: str, behaviour: Any, status: str, outcome: str
) -> None:
    world = World()
    delivery = await _leased(world, channel)
    world.channels[DeliveryChannel(channel)].always = behaviour

    recorded = await world.deliverer.attempt(delivery, timeout_s=0.02)

    assert recorded is not None
    assert (recorded["status"], recorded["history"][-1]["outcome"]) == (status, outcome)
    if outcome == "interrupted":
        assert f"<{delivery['_id']}@hoso>" in recorded["last_error"]
        assert "delivery unknown" in recorded["last_error"]


async def test_a_channel_switched_off_after_the_claim_is_retried_later() -> None:
    world = World()
    delivery = await _leased(world)
    del world.channels[DeliveryChannel.SMS]
    deliverer = Deliverer(world.config, world.log, world.channels, world.publisher)
    recorded = await deliverer.attempt(delivery, timeout_s=1)
    assert recorded is not None
    assert recorded["status"] == "retry_scheduled"
    assert recorded["last_error"] == "sms is not configured"


async def test_a_delivery_without_its_message_fails_for_good() -> None:
    world = World()
    delivery = await _leased(world)
    recorded = await world.deliverer.attempt({**delivery, "content": None}, timeout_s=1)
    assert recorded is not None
    assert recorded["status"] == "failed_unpublished"
    assert world.sms.handed == []


async def test_an_outcome_is_not_recorded_over_a_newer_attempt() -> None:
    world = World()
    delivery = await _leased(world)
    world.clock.advance(10)  # the lease ran out; another replica took the delivery over
    assert await world.log.retake_stale(delivery["_id"], 1, now=world.clock.now, lease_s=5)

    assert await world.deliverer.attempt(delivery, timeout_s=1) is None
    assert world.log[delivery["_id"]]["history"] == []


async def test_an_email_interrupted_by_a_crash_is_failed_once_whoever_finds_it() -> None:
    world = World()
    delivery = await _leased(world, "email")
    world.clock.advance(10)
    stale = {k: v for k, v in delivery.items() if k != "content"}

    results = await asyncio.gather(
        world.deliverer.give_up_interrupted(stale, "interrupted"),
        world.replica().deliverer.give_up_interrupted(stale, "interrupted"),
    )

    (recorded,) = [r for r in results if r is not None]
    assert recorded["status"] == "failed_unpublished"
    assert [h["outcome"] for h in world.log[delivery["_id"]]["history"]] == ["interrupted"]


async def test_an_outcome_published_again_keeps_its_event_id() -> None:
    world = World()
    world.publisher.down = True
    await world.notices.handle_batch([notice(portal_account=None, phone=None)])
    (delivery,) = world.log.documents.values()
    (settled,) = [await world.log.get(delivery["_id"])]
    assert settled is not None
    assert await world.deliverer.publish_outcomes([settled]) == []

    world.publisher.down = False
    assert await world.deliverer.publish_outcomes([settled]) == [settled]
    assert world.publisher.ids() == [delivery["outcome_event_id"]]


# --------------------------------------------------------------------------- the retry worker


async def test_a_due_retry_is_attempted_by_the_worker_and_told_to_audit() -> None:
    world = World()
    world.sms.script(NUMBER, DeliveryFailure("HTTP 503", transient=True))
    await world.notices.handle_batch([notice()])
    sms = world.by_channel()["sms"]
    assert sms["status"] == "retry_scheduled"

    assert await world.worker.run_once() == 0  # not due yet
    world.clock.advance(2)
    assert await world.worker.run_once() == 1

    assert world.log[sms["_id"]]["status"] == "sent"
    assert world.log[sms["_id"]]["attempts"] == 2
    assert [h["outcome"] for h in world.log[sms["_id"]]["history"]] == ["retry", "sent"]
    (told,) = [o for o in world.outcomes() if o.delivery_id == sms["_id"]]
    assert told.attempts == 2


async def test_the_worker_takes_over_an_idempotent_attempt_a_dead_process_left() -> None:
    world = World()
    leased = await _all_leased(world)
    sms, email = leased["sms"], leased["email"]
    world.clock.advance(5)

    assert await world.worker.run_once() == 3  # sms, email and the portal delivery

    assert world.log[sms["_id"]]["status"] == "sent"
    assert world.log[sms["_id"]]["attempts"] == 2
    # Email is not repeated blindly: it fails visibly for an operator to check.
    assert world.email.handed == []
    assert world.log[email["_id"]]["status"] == "failed"
    assert world.log[email["_id"]]["history"][-1]["outcome"] == "interrupted"
    assert any(isinstance(o, NotificationFailed) for o in world.outcomes())


async def test_the_worker_publishes_an_outcome_nobody_published_in_time() -> None:
    world = World()
    world.publisher.down = True
    await world.notices.handle_batch([notice()])
    world.publisher.down = False

    assert await world.worker.run_once() == 0
    assert world.publisher.events == []  # within the grace its settler may still publish
    world.clock.advance(60)
    await world.worker.run_once()

    assert sorted(world.publisher.ids()) == sorted(
        d["outcome_event_id"] for d in world.log.documents.values()
    )
    assert {d["status"] for d in world.log.documents.values()} == {"sent"}
    await world.worker.run_once()
    assert len(world.publisher.events) == 3


async def test_replicas_racing_over_one_log_make_each_attempt_once() -> None:
    world = World()
    for n in range(12):
        phone = f"09{n:08d}"
        world.sms.script("+84" + phone[1:], DeliveryFailure("HTTP 503", transient=True))
        await world.notices.handle_batch(
            [notice(dossier_id=f"d-{n}", phone=phone, email=None, portal_account=None)]
        )
    replicas = [world, world.replica(), world.replica()]
    for _ in range(20):
        if {d["status"] for d in world.log.documents.values()} == {"sent"}:
            break
        world.clock.advance(2)
        await asyncio.gather(*(r.worker.run_once() for r in replicas))

    assert {d["status"] for d in world.log.documents.values()} == {"sent"}
    # Each receiver refused the first attempt once: exactly two attempts, whoever made them.
    for delivery in world.log.documents.values():
        assert len(world.sms.handed_to(delivery["address"])) == 2
    assert len(set(world.publisher.ids())) == len(world.publisher.ids()) == 12


async def test_the_worker_asks_for_no_more_than_its_free_capacity() -> None:
    world = World(config=settings(delivery_concurrency=2))
    world.sms.always = DeliveryFailure("HTTP 503", transient=True)
    for n in range(3):
        await world.notices.handle_batch(
            [notice(dossier_id=f"d-{n}", phone=f"0900000{n:03d}", email=None, portal_account=None)]
        )
    world.clock.advance(2)
    world.sms.always = None

    assert await world.worker.run_once() == 2
    assert await world.worker.run_once() == 1


# --------------------------------------------------------------------------- operators


async def _failed(world: World) -> dict[str, Any]:
    world.sms.script(NUMBER, DeliveryFailure("HTTP 400", transient=False))
    await world.notices.handle_batch([notice()])
    return world.by_channel()["sms"]


async def test_an_operator_resends_a_failed_delivery_and_the_worker_sends_it() -> None:
    world = World()
    failed = await _failed(world)

    resent = await world.operators.resend(failed["_id"], actor="operator:op-1")

    assert resent["status"] == "retry_scheduled"
    assert resent["max_attempts"] == 1 + 3
    assert resent["history"][-1] == {
        "at": world.clock.now,
        "outcome": "resend",
        "by": "operator:op-1",
    }
    assert "content" not in resent
    await world.worker.run_once()
    assert world.log[failed["_id"]]["status"] == "sent"
    assert [m.delivery_id for m in world.sms.delivered] == [failed["_id"]]


async def test_only_a_failed_delivery_is_resent_and_only_once() -> None:
    world = World()
    failed = await _failed(world)
    email = world.by_channel()["email"]

    with pytest.raises(NotResendable, match="this one is sent"):
        await world.operators.resend(email["_id"], actor="operator:op-1")
    with pytest.raises(DeliveryNotFound):
        await world.operators.resend("0" * 64, actor="operator:op-1")
    results = await asyncio.gather(
        world.operators.resend(failed["_id"], actor="operator:op-1"),
        world.replica().operators.resend(failed["_id"], actor="operator:op-2"),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["NotResendable", "dict"]
    assert world.log[failed["_id"]]["resends"] == 1


async def test_operators_page_through_deliveries_narrowed_and_without_messages() -> None:
    world = World()
    for n in range(3):
        await world.notices.handle_batch([notice(dossier_id=f"d-{n}")])
        world.clock.advance(1)

    first, position = await world.operators.list_deliveries(
        dossier_id=None, status=None, channel=DeliveryChannel.SMS, after=None, limit=2
    )
    rest, end = await world.operators.list_deliveries(
        dossier_id=None, status=None, channel=DeliveryChannel.SMS, after=position, limit=2
    )
    assert [d["dossier_id"] for d in first + rest] == ["d-2", "d-1", "d-0"]
    assert end is None
    assert all("content" not in d for d in first + rest)
    one, _ = await world.operators.list_deliveries(
        dossier_id="d-1", status=None, channel=None, after=None, limit=50
    )
    assert {d["channel"] for d in one} == {"email", "sms", "webhook"}

    delivery = await world.operators.get_delivery(first[0]["_id"])
    assert delivery["dossier_id"] == "d-2"
    assert "content" not in delivery
    with pytest.raises(DeliveryNotFound):
        await world.operators.get_delivery("f" * 64)


async def test_operators_see_the_templates_and_previews_of_them() -> None:
    world = World()
    listed = world.operators.list_templates()
    assert {(t["event_type"], t["language"]) for t in listed} >= {
        (EventType.STATUS_CHANGED.value, "vi"),
        (EventType.OVERDUE.value, "en"),
    }

    sms = world.operators.preview(
        EventType.STATUS_CHANGED.value, "en", DeliveryChannel.SMS, status="approved"
    )
    assert sms.sms_segments is not None
    assert sms.sms_segments >= 1
    assert sms.text.isascii()
    email = world.operators.preview(
        EventType.OVERDUE.value, "vi", DeliveryChannel.EMAIL, status=None
    )
    assert email.sms_segments is None
    assert email.subject
    assert email.html

    with pytest.raises(StatusNotApplicable):
        world.operators.preview(
            EventType.OVERDUE.value, "vi", DeliveryChannel.EMAIL, status="approved"
        )
    with pytest.raises(NotificationDomainError):
        world.operators.preview(
            EventType.STATUS_CHANGED.value, "vi", DeliveryChannel.EMAIL, status="frozen"
        )


def test_the_api_offers_previews_of_exactly_the_notices_there_are() -> None:
    assert set(get_args(NoticeType)) == {t.value for t in NOTICE_TYPES} == HANDLED_EVENTS
