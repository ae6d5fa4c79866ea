"""The outbox relay: publishes events that dossier documents hold and marks them sent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from chassis.events import Envelope
from chassis.kafka import EventPublisher, KafkaUnavailable
from processing.adapters.store import DossierStore

log = logging.getLogger(__name__)


class OutboxRelay:
    """Publishes the dossiers named by `wake` straight away (one read by id each) and,
    every ``interval_s``, scans for any outbox left pending, e.g. by a crash between
    a store write and the send. The scan is the safety net, not the hot path: on
    FerretDB it reads the whole collection."""

    def __init__(
        self,
        store: DossierStore,
        publisher: EventPublisher,
        interval_s: float,
        scan_limit: int = 200,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._interval_s = interval_s
        self._scan_limit = scan_limit
        self._wake = asyncio.Event()
        self._hinted: set[str] = set()

    def wake(self, dossier_id: str | None = None) -> None:
        """Called after a write so the relay does not wait for its next scan."""
        if dossier_id is not None:
            self._hinted.add(dossier_id)
        self._wake.set()

    async def run(self) -> None:
        next_scan = 0.0
        while True:
            # Cleared before reading, so a write that lands while this pass runs wakes
            # the next one instead of waiting for the scan.
            self._wake.clear()
            hinted, self._hinted = self._hinted, set()
            if time.monotonic() >= next_scan:
                documents = await self._store.pending_outboxes(self._scan_limit)
                # A full page means more may be pending: scan again right away.
                full = len(documents) >= self._scan_limit
                next_scan = 0.0 if full else time.monotonic() + self._interval_s
            else:
                documents = await self._store.outboxes_of(sorted(hinted))
            published = await self.publish(documents)
            if published == 0 and not self._hinted:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._wake.wait(), timeout=max(0.0, next_scan - time.monotonic())
                    )

    async def relay_once(self) -> int:
        """One full scan and publish; what a restart or a test uses."""
        return await self.publish(await self._store.pending_outboxes(self._scan_limit))

    async def publish(self, documents: list[dict[str, Any]]) -> int:
        envelopes: list[Envelope] = []
        carriers: list[dict[str, str] | None] = []
        owners: list[tuple[str, list[str]]] = []
        for document in documents:
            entries = document.get("outbox") or []
            if not entries:
                continue
            envelopes.extend(Envelope.model_validate(e["event"]) for e in entries)
            carriers.extend(e.get("trace") for e in entries)
            owners.append((document["_id"], [e["id"] for e in entries]))
        if not envelopes:
            return 0
        try:
            await self._publisher.publish_many(envelopes, trace_carriers=carriers)
        except KafkaUnavailable as exc:
            log.warning("outbox relay cannot publish yet: %s", exc)
            # Put the hints back so these dossiers go first once Kafka is back.
            self._hinted.update(owner for owner, _ in owners)
            await asyncio.sleep(1.0)
            return 0
        # A crash here re-publishes these events after restart; consumers skip them by id.
        await self._store.mark_published(owners)
        return len(envelopes)
