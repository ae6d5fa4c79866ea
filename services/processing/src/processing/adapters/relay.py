"""The outbox relay: publishes events that dossier documents hold and marks them sent."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from chassis.events import Envelope
from chassis.kafka import EventPublisher, KafkaUnavailable
from processing.adapters.store import DossierStore

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(self, store: DossierStore, publisher: EventPublisher, interval_s: float) -> None:
        self._store = store
        self._publisher = publisher
        self._interval_s = interval_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Called after a write so the relay does not wait for its next poll."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            # Cleared before reading, so a write that lands while this pass runs wakes
            # the next one instead of waiting for the poll.
            self._wake.clear()
            published = await self.relay_once()
            if published == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._interval_s)

    async def relay_once(self) -> int:
        documents = await self._store.pending_outboxes()
        if not documents:
            return 0
        envelopes: list[Envelope] = []
        carriers: list[dict[str, str] | None] = []
        owners: list[tuple[str, list[str]]] = []
        for document in documents:
            entries = document.get("outbox") or []
            envelopes.extend(Envelope.model_validate(e["event"]) for e in entries)
            carriers.extend(e.get("trace") for e in entries)
            owners.append((document["_id"], [e["id"] for e in entries]))
        try:
            await self._publisher.publish_many(envelopes, trace_carriers=carriers)
        except KafkaUnavailable as exc:
            log.warning("outbox relay cannot publish yet: %s", exc)
            await asyncio.sleep(1.0)
            return 0
        # A crash here re-publishes these events after restart; consumers skip them by id.
        await self._store.mark_published(owners)
        return len(envelopes)
