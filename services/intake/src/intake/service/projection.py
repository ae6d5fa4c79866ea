"""The citizen-facing status of each dossier, kept from processing's lifecycle events.

Redelivered and out-of-order events, and two replicas handling the same event during a
rebalance, are harmless: the store applies a status only over an older version and a
new appointment only over an older one. A consumed batch is projected in one write.
"""

from __future__ import annotations

from collections.abc import Sequence

from chassis.events import (
    DossierApologyIssued,
    DossierDeadlineExtended,
    DossierStatusChanged,
    EventData,
)
from intake.ports import AppointmentUpdate, ProjectionUpdate, StatusStore, StatusUpdate

__all__ = [
    "project",
    "project_new_appointment",
    "project_status_change",
    "projection_update",
]


def projection_update(event: EventData) -> ProjectionUpdate | None:
    """What an event changes in the projection; None for an event it does not follow."""
    if isinstance(event, DossierStatusChanged):
        fields: dict[str, object] = {
            "receipt_code": event.receipt_code,
            "status": event.new_status,
            "missing_documents": event.missing_documents or [],
            "missing_items": event.missing_items or [],
            "updated_at": event.occurred_at,
        }
        # A status change that does not restate the date keeps the one already known.
        if event.due_date is not None:
            fields["due_date"] = event.due_date.isoformat()
        return StatusUpdate(event.dossier_id, event.version, fields)
    if isinstance(event, DossierApologyIssued):
        return AppointmentUpdate(event.dossier_id, event.new_due_date.isoformat(), event.issued_at)
    if isinstance(event, DossierDeadlineExtended):
        return AppointmentUpdate(
            event.dossier_id, event.new_due_date.isoformat(), event.occurred_at
        )
    return None


async def project(store: StatusStore, events: Sequence[EventData]) -> int:
    """Project the events in their order (a dossier's events are in the order processing
    published them), in one round trip; how many changed the projection."""
    updates = [u for u in (projection_update(e) for e in events) if u is not None]
    if not updates:
        return 0
    return await store.apply_updates(updates)


async def project_status_change(store: StatusStore, changed: DossierStatusChanged) -> bool:
    """Whether the projection changed."""
    return await project(store, [changed]) == 1


async def project_new_appointment(
    store: StatusStore, event: DossierApologyIssued | DossierDeadlineExtended
) -> bool:
    """An apology slip or an extension moves the appointment; whether it applied."""
    return await project(store, [event]) == 1
