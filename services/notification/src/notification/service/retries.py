"""The retry worker's pass: every attempt after the first, outside the consumer's loop.

Every ``retry_poll_s`` it asks the delivery log, through three index range scans, for
(1) outcomes whose event was not acknowledged in time, which it publishes again under
the same event id, (2) deliveries left in 'sending' by a process that died, which it
takes over, and (3) attempts whose time has come, which it starts. Each of these is
claimed with one conditional update carrying the expected state and attempt number in
its filter (the due attempts of one poll all in one bulk write), so any number of
replicas can run this loop on one database and each attempt is still made once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Coroutine
from typing import Any

from chassis.events import DeliveryChannel
from notification.service.delivery import Deliverer
from notification.service.ports import Clock, DeliveryLog, utcnow
from notification.settings import NotificationSettings

__all__ = ["RetryWorker"]

log = logging.getLogger(__name__)


class RetryWorker:
    """Keeps up to ``delivery_concurrency`` attempts in flight, topped up every poll, so
    one slow gateway occupies a slot, not the whole worker."""

    def __init__(
        self,
        settings: NotificationSettings,
        store: DeliveryLog,
        deliverer: Deliverer,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._settings = settings
        self._store = store
        self._deliverer = deliverer
        self._clock = clock
        self._in_flight: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> None:
        try:
            while True:
                # A failing store or broker ends the loop; the runtime restarts it with
                # backoff, and the log still says what is left to do.
                await self.fill()
                await asyncio.sleep(self._settings.retry_poll_s)
        finally:
            # Attempts in flight are finished and recorded even when the service stops;
            # otherwise they would stay 'sending' with an unknown outcome.
            if self._in_flight:
                await asyncio.wait(
                    self._in_flight.values(), timeout=self._settings.send_timeout_s + 5
                )

    async def run_once(self) -> int:
        """One round, waiting for every attempt it started; returns how many it started."""
        started = await self.fill()
        if self._in_flight:
            await asyncio.wait(self._in_flight.values())
        return started

    async def fill(self) -> int:
        """Publish what is overdue for publishing, then start attempts up to the free
        capacity: take-overs of dead processes' attempts first, then due retries."""
        settings = self._settings
        now = self._clock()
        unpublished = await self._store.claim_unpublished(
            now, settings.publish_grace_s, settings.retry_batch
        )
        await self._deliverer.publish_outcomes(unpublished)
        free = settings.delivery_concurrency - len(self._in_flight)
        if free <= 0:
            return 0
        jobs: list[tuple[str, Coroutine[Any, Any, dict[str, Any] | None]]] = []
        for stale in await self._store.stale(now, free):
            if stale["_id"] not in self._in_flight:
                jobs.append((stale["_id"], self._take_over(stale)))
        if len(jobs) < free:
            # One still in flight is winding up (publishing the outcome that scheduled
            # this retry); the next poll finds it again.
            due = [
                (delivery_id, attempts)
                for delivery_id, attempts in await self._store.due(now, free - len(jobs))
                if delivery_id not in self._in_flight
            ]
            # Claimed together, in a fixed number of store round trips however many are
            # due; those another replica won are not among the answers.
            for leased in await self._store.start_attempts(
                due, now=self._clock(), lease_s=settings.sending_lease_s
            ):
                attempt = self._deliverer.attempt(leased, timeout_s=settings.send_timeout_s)
                jobs.append((leased["_id"], attempt))
        for delivery_id, job in jobs:
            task = asyncio.create_task(self._settle(job), name=f"delivery-{delivery_id[:12]}")
            self._in_flight[delivery_id] = task
            task.add_done_callback(functools.partial(self._done, delivery_id))
        return len(jobs)

    def _done(self, delivery_id: str, _: asyncio.Task[None]) -> None:
        self._in_flight.pop(delivery_id, None)

    async def _settle(self, job: Coroutine[Any, Any, dict[str, Any] | None]) -> None:
        try:
            await self._deliverer.publish_outcomes([await job])
        except Exception:
            # The store or broker failed mid-way; the delivery's state still says what
            # is left to do, and a later round picks it up.
            log.exception("retry of a delivery failed; it will be picked up again")

    async def _take_over(self, stale: dict[str, Any]) -> dict[str, Any] | None:
        channel = DeliveryChannel(stale["channel"])
        if not self._deliverer.idempotent(channel):
            # Email: the server may have accepted the message just before the crash.
            # Sending it again could tell the citizen twice; failing it visibly lets an
            # operator check and resend (same Message-ID, so a repeat is recognisable).
            return await self._deliverer.give_up_interrupted(
                stale, "interrupted: the process stopped during the attempt, delivery unknown"
            )
        leased = await self._store.retake_stale(
            stale["_id"],
            int(stale["attempts"]),
            now=self._clock(),
            lease_s=self._settings.sending_lease_s,
        )
        if leased is None:
            return None
        log.info(
            "delivery %s (%s) taken over from a process that stopped mid-attempt",
            stale["_id"][:16],
            channel.value,
        )
        # The receiver drops a delivery id it has seen, so repeating is safe.
        return await self._deliverer.attempt(leased, timeout_s=self._settings.send_timeout_s)
