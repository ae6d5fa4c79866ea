"""Intake, the owner of the public catalogue, tells the audit trail which catalogue
version came into force (``catalogue.version-activated.v1`` on ``catalogue.changes``)."""

from __future__ import annotations

from datetime import datetime

from chassis.catalogue import Catalogue, CatalogueChange
from chassis.catalogue.holder import activation_event
from chassis.kafka import EventPublisher
from intake.service.common import SOURCE

__all__ = ["ACTOR", "CatalogueAnnouncer"]

# The province's editors change the file; the service is what puts a version in force.
ACTOR = "system:intake"


class CatalogueAnnouncer:
    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    async def announce(
        self, catalogue: Catalogue, change: CatalogueChange, activated_at: datetime
    ) -> None:
        # Raises while Kafka is away; the holder keeps the announcement for its next round.
        envelope = activation_event(catalogue, change, activated_at, source=SOURCE, actor=ACTOR)
        await self._publisher.publish(envelope)
