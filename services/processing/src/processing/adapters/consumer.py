"""Handlers for what intake publishes: submissions, supplements, withdrawal requests and
the issued result documents.

Each hands the event's payload to its use case, which is idempotent on the event id (the
dossier document remembers the ids it applied), as the consumer loop redelivers a batch
that was not committed.
"""

from __future__ import annotations

from chassis.events import (
    DossierResultIssued,
    DossierSubmitted,
    DossierSupplemented,
    DossierWithdrawalRequested,
)
from chassis.kafka import ConsumedEvent, Handler
from processing.service import ProcessingService


def submission_handlers(service: ProcessingService) -> dict[str, Handler]:
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
