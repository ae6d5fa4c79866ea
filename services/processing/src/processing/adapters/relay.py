"""The outbox relay: claims pending outboxes, publishes their events, then drops them.

Several processing replicas each run a relay on the same database. A relay pass first
takes a lease on the dossiers it is about to publish (one conditional ``update_many``),
so one dossier's events are sent by one relay at a time, in order, and once; see
docs/processing.md for why a lease rather than publishing freely and relying on the
consumers' de-duplication alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from chassis.events import Envelope
from chassis.kafka import EventPublisher, KafkaUnavailable
from processing.adapters.store import DossierStore, OutboxClaim

log = logging.getLogger(__name__)

# How soon a relay looks again at a dossier it was woken for while another relay held
# it: that relay normally lets go within milliseconds.
BUSY_RETRY_S = 0.05


class OutboxRelay:
    """Publishes the dossiers named by `wake` straight away and, every ``interval_s``,
    scans for any outbox left pending: by a crash between a store write and the send,
    by another replica, or by a relay whose lease ran out."""

    def __init__(
        self,
        store: DossierStore,
        publisher: EventPublisher,
        interval_s: float,
        scan_limit: int = 200,
        lease_s: float = 30.0,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._interval_s = interval_s
        self._scan_limit = scan_limit
        self._lease_s = lease_s
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
                found = await self._store.pending_outboxes(self._scan_limit)
                # A full page means more may be pending: scan again right away.
                full = len(found) >= self._scan_limit
                next_scan = 0.0 if full else time.monotonic() + self._interval_s
                claim = await self._store.claim_outboxes(found, self._lease_s)
                # A hinted dossier the scan did not take gets a pass of its own.
                self._hinted |= hinted - set(found)
            else:
                claim = await self._store.claim_outboxes(sorted(hinted), self._lease_s)
                # Held by another relay: look again once it has let go, in case it
                # claimed before this process appended.
                self._hinted.update(claim.busy)
            published = await self.publish(claim)
            if published and self._hinted:
                continue
            waiting = BUSY_RETRY_S if self._hinted else max(0.0, next_scan - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=waiting)

    async def relay_once(self) -> int:
        """One scan, claim and publish; what a restart or a test uses."""
        found = await self._store.pending_outboxes(self._scan_limit)
        return await self.publish(await self._store.claim_outboxes(found, self._lease_s))

    async def publish(self, claim: OutboxClaim) -> int:
        envelopes: list[Envelope] = []
        carriers: list[dict[str, str] | None] = []
        for outbox in claim.outboxes:
            envelopes.extend(Envelope.model_validate(e["event"]) for e in outbox.entries)
            carriers.extend(e.get("trace") for e in outbox.entries)
        if not envelopes:
            # Claimed but empty (a document written without events): drop the lease.
            await self._store.mark_published(claim)
            return 0
        try:
            await self._publisher.publish_many(envelopes, trace_carriers=carriers)
        except KafkaUnavailable as exc:
            log.warning("outbox relay cannot publish yet: %s", exc)
            # Let another replica, or this one once Kafka is back, take them at once.
            await self._store.release(claim)
            self._hinted.update(o.dossier_id for o in claim.outboxes)
            await asyncio.sleep(1.0)
            return 0
        # A crash here re-publishes these events once the lease runs out; consumers skip
        # them by event id.
        await self._store.mark_published(claim)
        return len(envelopes)
