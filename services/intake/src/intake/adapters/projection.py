"""Keeps the citizen-facing status of each dossier from processing's lifecycle events."""

from __future__ import annotations

from typing import TypeVar

from chassis.events import (
    DossierApologyIssued,
    DossierDeadlineExtended,
    DossierStatusChanged,
    EventData,
)
from chassis.kafka import ConsumedEvent, Handler
from intake.adapters.store import IntakeStore

__all__ = ["StatusProjection"]

_Payload = TypeVar("_Payload", bound=EventData)


class StatusProjection:
    def __init__(self, store: IntakeStore) -> None:
        self._store = store

    def handlers(self) -> dict[str, Handler]:
        return {
            DossierStatusChanged.event_type: self.on_status_changed,
            DossierApologyIssued.event_type: self.on_new_appointment,
            DossierDeadlineExtended.event_type: self.on_new_appointment,
        }

    async def on_status_changed(self, event: ConsumedEvent) -> None:
        changed = _expect(event, DossierStatusChanged)
        fields: dict[str, object] = {
            "receipt_code": changed.receipt_code,
            "status": changed.new_status,
            "missing_documents": changed.missing_documents or [],
            "updated_at": changed.occurred_at,
        }
        # A status change that does not restate the date keeps the one already known.
        if changed.due_date is not None:
            fields["due_date"] = changed.due_date.isoformat()
        await self._store.apply_status(changed.dossier_id, changed.version, fields)

    async def on_new_appointment(self, event: ConsumedEvent) -> None:
        payload = event.payload
        if isinstance(payload, DossierApologyIssued):
            await self._store.apply_due_date(
                payload.dossier_id, payload.new_due_date.isoformat(), payload.issued_at
            )
        else:
            extended = _expect(event, DossierDeadlineExtended)
            await self._store.apply_due_date(
                extended.dossier_id, extended.new_due_date.isoformat(), extended.occurred_at
            )


def _expect(event: ConsumedEvent, model: type[_Payload]) -> _Payload:
    payload = event.payload
    if not isinstance(payload, model):
        raise TypeError(f"expected {model.event_type}, got {event.envelope.type}")
    return payload
