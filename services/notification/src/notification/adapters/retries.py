"""The retry worker: every attempt after the first, outside the consumer's loop.

Each round it starts the attempts this process scheduled whose time has come. Every
``retry_sweep_s`` (and at start-up) the round also sweeps the delivery log: it
(1) publishes outcomes whose event never got acknowledged, (2) takes over deliveries
left in 'sending' by a process that died, and (3) starts attempts scheduled by another
replica or a process that died. The sweep is not every round because on FerretDB each
of its queries decodes the whole delivery log. Every take-over is a conditional update
in the store, so any number of instances can run this loop side by side without sending
anything twice.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

from notification.adapters.delivery import Deliverer, utcnow
from notification.adapters.store import DeliveryStore
from notification.domain.policy import Channel
from notification.settings import NotificationSettings

__all__ = ["RetryWorker"]

log = logging.getLogger(__name__)

_PRUNE_EVERY_S = 3600.0


class RetryWorker:
    """Keeps up to ``delivery_concurrency`` attempts in flight, topped up every poll, so
    one slow gateway occupies a slot, not the whole worker."""

    def __init__(
        self, settings: NotificationSettings, store: DeliveryStore, deliverer: Deliverer
    ) -> None:
        self._settings = settings
        self._store = store
        self._deliverer = deliverer
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._pruned_at = 0.0
        self._next_sweep = 0.0

    async def run(self) -> None:
        try:
            while True:
                # Topped up once per poll, not per finished attempt: each round queries
                # the store, and those queries should not scale with the traffic.
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
        started = await self.fill(sweep=True)
        if self._in_flight:
            await asyncio.wait(self._in_flight.values())
        return started

    async def fill(self, *, sweep: bool = False) -> int:
        """Start attempts up to the free capacity; on a sweep, first publish what is
        unpublished and look in the store for work this process did not schedule."""
        settings = self._settings
        now = utcnow()
        sweep = sweep or time.monotonic() >= self._next_sweep
        if sweep:
            self._next_sweep = time.monotonic() + settings.retry_sweep_s
            if time.monotonic() - self._pruned_at > _PRUNE_EVERY_S:
                self._pruned_at = time.monotonic()
                await self._store.prune_claims(now - timedelta(seconds=_PRUNE_EVERY_S))
            unpublished = await self._store.unpublished(
                now - timedelta(seconds=settings.publish_grace_s), settings.retry_batch
            )
            await self._deliverer.publish_outcomes(unpublished)
            if len(unpublished) >= settings.retry_batch:
                self._next_sweep = 0.0  # more may be waiting
        free = settings.delivery_concurrency - len(self._in_flight)
        if free <= 0:
            return 0
        jobs: list[tuple[str, Coroutine[Any, Any, dict[str, Any] | None]]] = []
        if sweep:
            for stale in await self._store.stale(now, free):
                if stale["_id"] not in self._in_flight:
                    jobs.append((stale["_id"], self._take_over(stale)))
        due = self._store.scheduled(now, free - len(jobs))
        if sweep and len(jobs) + len(due) < free:
            wanted = free - len(jobs) - len(due)
            swept = await self._store.due(now, wanted)
            due += [i for i in swept if i not in due]
            if len(swept) >= wanted:
                self._next_sweep = 0.0  # more may be due
        for delivery_id in due:
            if delivery_id in self._in_flight:
                # Its previous attempt scheduled this one and is still winding up
                # (publishing its outcome): ask again next round rather than drop it.
                self._store.schedule(delivery_id, now)
            elif len(jobs) < free:
                jobs.append((delivery_id, self._retry(delivery_id)))
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

    async def _retry(self, delivery_id: str) -> dict[str, Any] | None:
        leased = await self._store.start_attempt(
            delivery_id, now=utcnow(), lease_s=self._settings.sending_lease_s
        )
        if leased is None:
            return None  # another instance took it
        return await self._deliverer.attempt(leased, timeout_s=self._settings.send_timeout_s)

    async def _take_over(self, stale: dict[str, Any]) -> dict[str, Any] | None:
        channel = Channel(stale["channel"])
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
            now=utcnow(),
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
