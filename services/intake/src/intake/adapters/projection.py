"""Kafka glue of the status projection: the consumer loop's batch handler.

A fetched batch is projected in one write (`intake.service.projection.project`); then
the result of each approval in it is issued, in the approval's own trace. Both are
idempotent, so a batch handled again after a failure, or the replay of an approval
dead-lettered for want of a key, does each at most once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from chassis.events import (
    DossierApologyIssued,
    DossierDeadlineExtended,
    DossierStatusChanged,
)
from chassis.kafka import ConsumedEvent
from intake.ports import StatusStore
from intake.service.projection import project

__all__ = ["HANDLED_EVENTS", "AfterStatus", "StatusProjection"]

# The lifecycle events intake acts on; the others of the topic pass by.
HANDLED_EVENTS = frozenset(
    {
        DossierStatusChanged.event_type,
        DossierApologyIssued.event_type,
        DossierDeadlineExtended.event_type,
    }
)

# What follows a projected status change (`ResultIssuer.on_status_changed`).
AfterStatus = Callable[[DossierStatusChanged], Awaitable[object]]


class StatusProjection:
    def __init__(self, store: StatusStore, after_status: AfterStatus | None = None) -> None:
        self._store = store
        self._after_status = after_status

    async def handle_batch(self, items: list[ConsumedEvent]) -> None:
        """The consumer loop's batch handler (events in partition order)."""
        handled = [item for item in items if item.envelope.type in HANDLED_EVENTS]
        # The citizen's status first: it never depends on what follows.
        await project(self._store, [item.payload for item in handled])
        if self._after_status is None:
            return
        for item in handled:
            if isinstance(item.payload, DossierStatusChanged):
                # In the dossier's own trace, so what it publishes continues that trace.
                with item.in_own_trace():
                    await self._after_status(item.payload)
