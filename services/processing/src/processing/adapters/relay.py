"""When the outbox relay runs its passes (`processing.service.relay`): at once for the
dossiers a write names, and every ``interval_s`` for any outbox left pending (by a crash
between a store write and the send, by another replica, or by a relay whose lease ran
out)."""

from __future__ import annotations

import asyncio
import contextlib
import time

from chassis import kafka
from processing.adapters.publisher import KafkaEventPublisher
from processing.service.ports import DossierStore
from processing.service.relay import relay_dossiers, relay_pending

# How soon a relay looks again at a dossier it was woken for while another relay held
# it: that relay normally lets go within milliseconds.
BUSY_RETRY_S = 0.05
# How long a relay waits after the broker refused a batch.
UNAVAILABLE_PAUSE_S = 1.0


class OutboxRelay:
    def __init__(
        self,
        store: DossierStore,
        publisher: kafka.EventPublisher,
        interval_s: float,
        scan_limit: int = 200,
        lease_s: float = 30.0,
    ) -> None:
        self._store = store
        self._publisher = KafkaEventPublisher(publisher)
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
                found, done = await relay_pending(
                    self._store, self._publisher, self._scan_limit, self._lease_s
                )
                # A full page means more may be pending: scan again right away.
                full = len(found) >= self._scan_limit
                next_scan = 0.0 if full else time.monotonic() + self._interval_s
                # A hinted dossier the scan did not take gets a pass of its own.
                self._hinted |= hinted - set(found)
            else:
                done = await relay_dossiers(
                    self._store, self._publisher, sorted(hinted), self._lease_s
                )
                # Held by another relay: look again once it has let go, in case it
                # claimed before this process appended.
                self._hinted.update(done.busy)
            if done.unsent:
                self._hinted.update(done.unsent)
                await asyncio.sleep(UNAVAILABLE_PAUSE_S)
            if done.published and self._hinted:
                continue
            waiting = BUSY_RETRY_S if self._hinted else max(0.0, next_scan - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=waiting)

    async def relay_once(self) -> int:
        """One scan, claim and publish; what a restart or a test uses."""
        _, done = await relay_pending(self._store, self._publisher, self._scan_limit, self._lease_s)
        return done.published
