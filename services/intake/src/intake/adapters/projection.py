"""Kafka glue of the status projection: which lifecycle events reach which handler."""

from __future__ import annotations

from typing import TypeVar

from chassis.events import (
    DossierApologyIssued,
    DossierDeadlineExtended,
    DossierStatusChanged,
    EventData,
)
from chassis.kafka import ConsumedEvent, Handler
from intake.ports import StatusStore
from intake.service.projection import project_new_appointment, project_status_change

__all__ = ["StatusProjection"]

_Payload = TypeVar("_Payload", bound=EventData)


class StatusProjection:
    def __init__(self, store: StatusStore) -> None:
        self._store = store

    def handlers(self) -> dict[str, Handler]:
        return {
            DossierStatusChanged.event_type: self.on_status_changed,
            DossierApologyIssued.event_type: self.on_new_appointment,
            DossierDeadlineExtended.event_type: self.on_new_appointment,
        }

    async def on_status_changed(self, event: ConsumedEvent) -> None:
        await project_status_change(self._store, _expect(event, DossierStatusChanged))

    async def on_new_appointment(self, event: ConsumedEvent) -> None:
        payload = event.payload
        if not isinstance(payload, DossierApologyIssued):
            payload = _expect(event, DossierDeadlineExtended)
        await project_new_appointment(self._store, payload)


def _expect(event: ConsumedEvent, model: type[_Payload]) -> _Payload:
    payload = event.payload
    if not isinstance(payload, model):
        raise TypeError(f"expected {model.event_type}, got {event.envelope.type}")
    return payload
