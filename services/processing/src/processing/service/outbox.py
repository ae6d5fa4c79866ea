"""Events as a dossier's outbox carries them until the relay sends them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from chassis.events import Envelope, EventData, make_event
from chassis.telemetry import capture_context
from processing.service.ports import OutboxEntry

SOURCE = "/hoso/processing"


def outbox_entries(
    events: Sequence[EventData], actor: str, trace: Mapping[str, str] | None = None
) -> list[OutboxEntry]:
    """Envelopes ready to publish, each with the trace context of the cause: ``trace``
    if given (an event of a consumed batch), else the current one."""
    carrier = dict(trace) if trace is not None else capture_context()
    entries = []
    for data in events:
        envelope: Envelope = make_event(data, source=SOURCE, actor=actor)
        entries.append(
            {
                "id": envelope.id,
                "event": envelope.model_dump(mode="json"),
                "trace": dict(carrier),
            }
        )
    return entries
