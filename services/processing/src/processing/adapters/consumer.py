"""Handlers for what intake publishes: submissions, supplements, withdrawal requests.

Each handler is idempotent on the event id (the dossier document remembers the ids it
applied), as the consumer loop redelivers a batch that was not committed.
"""

from __future__ import annotations

from chassis.events import DossierSubmitted, DossierSupplemented, DossierWithdrawalRequested
from chassis.kafka import Handler
from processing.commands import DossierService


def submission_handlers(service: DossierService) -> dict[str, Handler]:
    return {
        DossierSubmitted.event_type: service.receive,
        DossierSupplemented.event_type: service.supplement,
        DossierWithdrawalRequested.event_type: service.withdraw,
    }
