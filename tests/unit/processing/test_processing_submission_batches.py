"""The submissions consumer's batches against the in-memory store: the submissions of a
batch open their dossiers in one store write, the other events apply one at a time and
never before the submission that opens their dossier, and every dossier keeps the trace
of its own record, not the batch's. Also what an inbound event or an officer's action
reads of the store: one read each."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import ConsumerRecord
from opentelemetry.trace import SpanContext, TraceFlags

from chassis.events import (
    DossierResultIssued,
    Envelope,
    EventData,
    PoisonMessage,
    Topics,
    decode,
    encode,
    make_event,
)
from chassis.kafka import ConsumedEvent
from processing.adapters.consumer import SubmissionsConsumer
from processing.domain.dossier import ActionParams
from processing.domain.workflow import Action, DossierStatus
from processing.service import Submission
from tests.unit.processing.test_processing_service import (
    ALICE,
    START,
    STATUS_CHANGED,
    World,
    submission,
    supplement,
    withdrawal,
)

S = DossierStatus


def consumed(data: EventData, offset: int = 0, span: SpanContext | None = None) -> ConsumedEvent:
    """A record of the submissions topic as the consumer loop hands it over."""
    envelope = make_event(data, source="/hoso/intake", actor="citizen:an")
    _, payload = decode(encode(envelope))
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        Topics.SUBMISSIONS, 0, offset, 0, 0, b"key", encode(envelope), None, 0, 0, ()
    )
    return ConsumedEvent(envelope, payload, record, span_context=span)


def span_of(n: int) -> SpanContext:
    return SpanContext(
        trace_id=0xA0 + n, span_id=0xB0 + n, is_remote=False, trace_flags=TraceFlags(1)
    )


def traceparent(span: SpanContext) -> str:
    return f"00-{span.trace_id:032x}-{span.span_id:016x}-01"


def result_issued(dossier_id: str) -> DossierResultIssued:
    return DossierResultIssued(
        dossier_id=dossier_id,
        receipt_code="MT-X",
        document_id="doc-1",
        sha256="0" * 64,
        size=1000,
        decision_number="1/QĐ",
        issued_at=START,
    )


# --------------------------------------------------------------------------- the use case


async def test_submissions_received_together_are_opened_by_one_store_write() -> None:
    world = World()
    events = [submission("MT-004", START) for _ in range(5)]
    opened = await world.service.receive_many(
        [
            Submission(e, f"submitted-{n}", {"traceparent": traceparent(span_of(n))})
            for n, e in enumerate(events)
        ]
    )
    ids = [e.dossier_id for e in events]
    assert opened == ids
    assert world.store.calls["insert_many"] == 1
    assert world.woken == ids
    for n, dossier_id in enumerate(ids):
        record = world.store.records[dossier_id]
        assert record.dossier.status is S.RECEIVED
        assert record.applied == [f"submitted-{n}"]
        # The dossier and its first event carry its own submission's trace.
        assert record.trace == {"traceparent": traceparent(span_of(n))}
        assert [e["trace"] for e in record.outbox] == [record.trace]
        assert world.store.events(dossier_id) == [STATUS_CHANGED]


async def test_a_batch_delivered_again_opens_only_the_dossiers_not_received_yet() -> None:
    world = World()
    first, second = submission("MT-004", START), submission("MT-004", START)
    await world.service.receive(first, "submitted-1")
    world.woken.clear()
    opened = await world.service.receive_many(
        [Submission(first, "submitted-1"), Submission(second, "submitted-2")]
    )
    assert opened == [second.dossier_id]
    assert world.woken == [second.dossier_id]
    assert world.store.calls["insert_many"] == 2
    assert world.store.records[first.dossier_id].applied == ["submitted-1"]
    assert world.store.events(first.dossier_id) == [STATUS_CHANGED]


async def test_an_empty_batch_of_submissions_writes_nothing() -> None:
    world = World()
    assert await world.service.receive_many([]) == []
    assert world.woken == []


# --------------------------------------------------------------------------- the consumer


async def test_a_batch_of_submissions_costs_one_store_write() -> None:
    world = World()
    events = [submission("MT-004", START) for _ in range(20)]
    await SubmissionsConsumer(world.service).handle_batch(
        [consumed(e, n) for n, e in enumerate(events)]
    )
    assert world.store.calls["insert_many"] == 1
    assert {world.status(e.dossier_id) for e in events} == {S.RECEIVED}
    assert sorted(world.woken) == sorted(e.dossier_id for e in events)


async def test_a_submission_withdrawn_in_the_same_batch_ends_withdrawn() -> None:
    world = World()
    first, second, third = (submission("MT-004", START) for _ in range(3))
    await SubmissionsConsumer(world.service).handle_batch(
        [
            consumed(first, 0),
            consumed(second, 1),
            consumed(withdrawal(first.dossier_id), 2),
            consumed(third, 3),
        ]
    )
    assert world.status(first.dossier_id) is S.WITHDRAWN
    assert world.status(second.dossier_id) is S.RECEIVED
    assert world.status(third.dossier_id) is S.RECEIVED
    # The two opened before the withdrawal went in one write, the third in another.
    assert world.store.calls["insert_many"] == 2
    assert world.store.calls["commit"] == 1


async def test_every_kind_of_event_applies_in_order_within_one_batch() -> None:
    world = World()
    opened = submission("MT-004", START)
    handler = SubmissionsConsumer(world.service)
    await handler.handle_batch([consumed(opened)])
    await world.service.act(
        opened.dossier_id,
        ALICE,
        None,
        Action.REQUEST_SUPPLEMENT,
        ActionParams(reason="Sign it", missing_items=["Chữ ký"]),
    )
    other = submission("MT-004", START)
    await handler.handle_batch(
        [
            consumed(supplement(opened.dossier_id), 1),
            consumed(other, 2),
            consumed(result_issued(other.dossier_id), 3),
        ]
    )
    assert world.status(opened.dossier_id) is S.SUPPLEMENTED
    assert world.store.records[other.dossier_id].dossier.result_document is not None


async def test_an_event_this_group_does_not_act_on_is_skipped() -> None:
    world = World()
    opened = submission("MT-004", START)
    # Processing's own announcement that a dossier was received: not for this group.
    elsewhere = World()
    await elsewhere.service.receive(submission("MT-004", START), "submitted-elsewhere")
    (record,) = elsewhere.store.records.values()
    _, announced = decode(encode(Envelope.model_validate(record.outbox[0]["event"])))
    await SubmissionsConsumer(world.service).handle_batch(
        [consumed(opened, 0), consumed(announced, 1)]
    )
    assert world.status(opened.dossier_id) is S.RECEIVED
    assert list(world.store.records) == [opened.dossier_id]
    assert world.store.calls["commit"] == 0


async def test_a_poison_event_fails_the_batch_after_the_submissions_before_it() -> None:
    # The loop then retries the batch and at last takes it one record at a time, so the
    # poison event goes to the dead-letter topic alone; what this try wrote is not
    # written twice.
    world = World()
    before, after = submission("MT-004", START), submission("MT-004", START)
    batch = [
        consumed(before, 0),
        consumed(withdrawal(str(uuid.uuid4())), 1),
        consumed(after, 2),
    ]
    handler = SubmissionsConsumer(world.service)
    with pytest.raises(PoisonMessage):
        await handler.handle_batch(batch)
    assert before.dossier_id in world.store.records
    assert after.dossier_id not in world.store.records
    for item in batch:
        if item.payload is not batch[1].payload:
            await handler.handle_batch([item])
    assert world.store.records[before.dossier_id].applied == [batch[0].id]
    assert world.status(after.dossier_id) is S.RECEIVED


async def test_each_dossier_keeps_the_trace_of_its_own_record() -> None:
    world = World()
    events = [submission("MT-004", START) for _ in range(3)]
    withdrawn = withdrawal(events[0].dossier_id)
    await SubmissionsConsumer(world.service).handle_batch(
        [consumed(e, n, span_of(n)) for n, e in enumerate(events)]
        + [consumed(withdrawn, 3, span_of(3))]
    )
    for n, event in enumerate(events):
        record = world.store.records[event.dossier_id]
        assert record.trace["traceparent"] == traceparent(span_of(n))
        assert record.outbox[0]["trace"]["traceparent"] == traceparent(span_of(n))
    # The withdrawal's event continues the withdrawal record's trace.
    withdrawn_entry = world.store.records[events[0].dossier_id].outbox[-1]
    assert withdrawn_entry["trace"]["traceparent"] == traceparent(span_of(3))


# --------------------------------------------------------------------------- reads


async def test_an_inbound_event_reads_the_dossier_once() -> None:
    world = World()
    dossier_id = await world.submit()
    await world.service.withdraw(withdrawal(dossier_id), "withdraw-1", "citizen:an")
    await world.service.withdraw(withdrawal(dossier_id), "withdraw-1", "citizen:an")
    assert world.store.calls["get_for_event"] == 2
    assert world.store.calls["get"] == 0


async def test_an_officers_action_reads_the_dossier_once() -> None:
    world = World()
    dossier_id = await world.submit()
    await world.service.claim(dossier_id, ALICE, frozenset({1}))
    await world.service.add_note(dossier_id, ALICE, None, "Called the applicant")
    await world.service.act(dossier_id, ALICE, None, Action.START_REVIEW, ActionParams())
    assert world.store.calls["get_for_officer"] == 3
    assert world.store.calls["get"] == world.store.calls["get_for_agency"] == 0
    assert world.status(dossier_id) is S.IN_REVIEW
