"""Handlers for what intake publishes: submissions, supplements, withdrawal requests and
the issued result documents.

Each hands the event's payload to its use case, which is idempotent on the event id (the
dossier document remembers the ids it applied), as the consumer loop redelivers a batch
that was not committed.

The consumer loop runs `SubmissionsConsumer.handle_batch` on every batch: the
submissions of a batch open their dossiers together, in one store write, as every store
command is a commit of its own; the other events are applied one at a time, in order.
"""

from __future__ import annotations

from chassis.events import (
    DossierResultIssued,
    DossierSubmitted,
    DossierSupplemented,
    DossierWithdrawalRequested,
)
from chassis.kafka import ConsumedEvent, Handler
from processing.service import ProcessingService, Submission


def submission_handlers(service: ProcessingService) -> dict[str, Handler]:
    """One handler per event type the group consumes, each for one event."""

    async def submitted(event: ConsumedEvent) -> None:
        assert isinstance(event.payload, DossierSubmitted)
        await service.receive(event.payload, event.id)

    async def supplemented(event: ConsumedEvent) -> None:
        assert isinstance(event.payload, DossierSupplemented)
        await service.supplement(event.payload, event.id, event.envelope.actor)

    async def withdrawal_requested(event: ConsumedEvent) -> None:
        assert isinstance(event.payload, DossierWithdrawalRequested)
        await service.withdraw(event.payload, event.id, event.envelope.actor)

    async def result_issued(event: ConsumedEvent) -> None:
        assert isinstance(event.payload, DossierResultIssued)
        await service.record_result(event.payload)

    return {
        DossierSubmitted.event_type: submitted,
        DossierResultIssued.event_type: result_issued,
        DossierSupplemented.event_type: supplemented,
        DossierWithdrawalRequested.event_type: withdrawal_requested,
    }


class SubmissionsConsumer:
    """The consumer loop's batch handler for the submissions topic.

    The batch comes in partition order. Submissions are gathered and opened together
    (`ProcessingService.receive_many`); before any other event is applied, the
    submissions gathered so far are written, so an event for a dossier never comes
    before the submission that opens it. A batch that fails is retried by the loop,
    then one event at a time, so a bad event goes to the dead-letter topic alone; every
    use case is idempotent on the event id, so what a failed try wrote is not written
    twice.
    """

    def __init__(self, service: ProcessingService) -> None:
        self._service = service
        self._handlers = submission_handlers(service)

    async def handle_batch(self, items: list[ConsumedEvent]) -> None:
        pending: list[Submission] = []
        for item in items:
            if isinstance(item.payload, DossierSubmitted):
                pending.append(Submission(item.payload, item.id, item.trace_carrier()))
                continue
            handler = self._handlers.get(item.envelope.type)
            if handler is None:
                # A known event this group does not act on: nothing to do.
                continue
            await self._open(pending)
            with item.in_own_trace():
                await handler(item)
        await self._open(pending)

    async def _open(self, pending: list[Submission]) -> None:
        if pending:
            await self._service.receive_many(pending)
            pending.clear()
