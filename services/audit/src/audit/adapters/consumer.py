"""Kafka glue of the recording use case: the ``audit`` group's batch handler.

Runs in every replica of the service: the group spreads the topics' partitions over the
replicas and each hands what it consumes to ``audit.service.recording.EventRecorder``, which
appends it to the one chain exactly once (the fencing is described there).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from opentelemetry.trace import SpanContext
from prometheus_client import Counter

from audit.domain.personal_data import PersonalDataCipher
from audit.service.ports import AuditLog
from audit.service.recording import (
    EventRecorder,
    IncomingEvent,
    RecordOutcome,
    TooManyConflicts,
)
from chassis.kafka import ConsumedEvent, backoff_delays
from chassis.mongo import store_unreachable

ENTRIES_APPENDED = Counter("hoso_audit_entries_appended_total", "Audit entries sealed and stored")
DUPLICATES_SKIPPED = Counter(
    "hoso_audit_duplicates_skipped_total", "Events not appended because already recorded"
)
APPEND_CONFLICTS = Counter(
    "hoso_audit_append_conflicts_total",
    "Inserts that met an entry already stored (another replica's, or a recorded event)",
)
# Waits while the store is unreachable: half a second, doubling up to ten.
OUTAGE_BACKOFF = backoff_delays(0.5, 10.0)


def trace_id(event: ConsumedEvent) -> str | None:
    """The trace the event was published in: from the consumer span, else its headers."""
    context: SpanContext | None = event.span_context
    if context is not None and context.is_valid:
        return format(context.trace_id, "032x")
    for key, value in event.record.headers or ():
        if key == "traceparent" and value:
            parts: list[str] = value.decode(errors="replace").split("-")
            if len(parts) >= 3 and len(parts[1]) == 32 and parts[1] != "0" * 32:
                return parts[1].lower()
    return None


def incoming(event: ConsumedEvent) -> IncomingEvent:
    return IncomingEvent(
        envelope=event.envelope,
        trace_id=trace_id(event),
        stream=(event.record.topic, event.record.partition),
    )


def _count(outcome: RecordOutcome) -> None:
    ENTRIES_APPENDED.inc(outcome.appended)
    DUPLICATES_SKIPPED.inc(outcome.skipped)
    APPEND_CONFLICTS.inc(outcome.conflicts)


class AuditRecorder:
    """The batch handler: consumed records in, the recording use case's outcome counted."""

    def __init__(
        self,
        store: AuditLog,
        cipher: PersonalDataCipher,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        retry_delay: Callable[[int], float] = OUTAGE_BACKOFF,
    ) -> None:
        self.recorder = EventRecorder(
            store,
            cipher,
            clock=clock,
            retry_delay=retry_delay,
            unreachable=store_unreachable,
        )

    async def record(self, batch: Sequence[ConsumedEvent]) -> None:
        try:
            outcome = await self.recorder.record([incoming(e) for e in batch])
        except TooManyConflicts as exc:
            _count(exc.outcome)
            raise
        _count(outcome)
