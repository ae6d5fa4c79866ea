"""The status projection's batch handler: a fetched batch is projected in one write, in
the order of its events, and the result of each approval is issued after it, in the
approval's own trace."""

from __future__ import annotations

from datetime import date, timedelta

from aiokafka import ConsumerRecord
from opentelemetry import trace
from opentelemetry.trace import SpanContext, TraceFlags

from chassis.events import (
    DossierAssigned,
    DossierDeadlineExtended,
    DossierStatusChanged,
    EventData,
    Topics,
    decode,
    encode,
    make_event,
)
from chassis.kafka import ConsumedEvent
from intake.adapters.projection import StatusProjection
from tests.unit.intake.fakes import FakeClock, FakeStore
from tests.unit.intake.test_intake_service import REF, status_changed


def consumed(data: EventData, offset: int = 0, span: SpanContext | None = None) -> ConsumedEvent:
    """A record of the lifecycle topic as the consumer loop hands it over."""
    envelope = make_event(data, source="/hoso/processing", actor="officer:an")
    _, payload = decode(encode(envelope))
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        Topics.LIFECYCLE, 0, offset, 0, 0, b"key", encode(envelope), None, 0, 0, ()
    )
    return ConsumedEvent(envelope, payload, record, span_context=span)


def extended(dossier_id: str, minutes: int) -> DossierDeadlineExtended:
    return DossierDeadlineExtended(
        **REF,
        dossier_id=dossier_id,
        old_due_date=date(2026, 12, 24),
        new_due_date=date(2027, 1, 15),
        reason="cần xác minh thực địa",
        occurred_at=FakeClock().now + timedelta(minutes=minutes),
    )


def assigned(dossier_id: str) -> DossierAssigned:
    return DossierAssigned(
        **REF,
        dossier_id=dossier_id,
        officer_id="officer-1",
        assigned_by="leader-1",
        occurred_at=FakeClock().now,
    )


async def test_a_batch_is_projected_in_one_write_in_its_order() -> None:
    store = FakeStore()
    projection = StatusProjection(store)
    batch = [
        consumed(status_changed("d-1", 2, "in_review", due=date(2026, 12, 24)), 0),
        consumed(assigned("d-1"), 1),
        # Dated after version 2 and before version 4: moves the date, which 4 keeps.
        consumed(extended("d-1", 3), 2),
        consumed(status_changed("d-1", 4, "supplement_requested"), 3),
        # Redelivered late, in the same batch: changes nothing.
        consumed(status_changed("d-1", 3, "in_review"), 4),
        consumed(status_changed("d-2", 2, "in_review"), 5),
    ]
    await projection.handle_batch(batch)
    assert store.projection_writes == 1
    first, second = await store.status("d-1"), await store.status("d-2")
    assert first is not None
    assert second is not None
    assert (first["status"], first["version"]) == ("supplement_requested", 4)
    assert first["due_date"] == "2027-01-15"
    assert first["missing_documents"] == ["eia_approval_decision"]
    assert (second["status"], second["version"]) == ("in_review", 2)


async def test_a_batch_of_events_the_projection_does_not_follow_writes_nothing() -> None:
    store = FakeStore()
    await StatusProjection(store).handle_batch([consumed(assigned("d-1"))])
    assert store.projection_writes == 0
    assert await store.status("d-1") is None


async def test_each_status_change_is_followed_after_the_projection_in_its_own_trace() -> None:
    store = FakeStore()
    followed: list[tuple[str, int, str | None, int]] = []

    async def after_status(changed: DossierStatusChanged) -> None:
        projected = await store.status(changed.dossier_id)
        context = trace.get_current_span().get_span_context()
        followed.append(
            (
                changed.dossier_id,
                changed.version,
                None if projected is None else projected["status"],
                context.trace_id,
            )
        )

    span = SpanContext(trace_id=0xA1, span_id=0xB1, is_remote=False, trace_flags=TraceFlags(1))
    batch = [
        consumed(status_changed("d-1", 2, "approved"), 0, span),
        consumed(extended("d-1", 5), 1),
        consumed(status_changed("d-2", 2, "in_review"), 2),
    ]
    await StatusProjection(store, after_status=after_status).handle_batch(batch)
    # Both status changes, in order, each seeing the whole batch projected; the first in
    # the trace of its record's span.
    assert followed[0] == ("d-1", 2, "approved", 0xA1)
    assert followed[1][:3] == ("d-2", 2, "in_review")
    assert followed[1][3] != 0xA1
    assert len(followed) == 2
