"""The retry worker starts the retries its own process scheduled from memory, and sweeps
the store only now and then. No broker or store: the store adapter is built for real
but never connected, and its queries are answered here."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from motor.motor_asyncio import AsyncIOMotorClient

from notification.adapters.retries import RetryWorker
from notification.adapters.store import DeliveryStore
from notification.settings import NotificationSettings

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


class Store(DeliveryStore):
    """The real agenda; the store's queries answered with nothing, attempts recorded."""

    def __init__(self) -> None:
        client: AsyncIOMotorClient[Any] = AsyncIOMotorClient("mongodb://127.0.0.1:1", connect=False)
        super().__init__(client["unit"])
        self.sweeps = 0
        self.attempts: list[str] = []

    async def prune_claims(self, before: datetime) -> int:
        return 0

    async def unpublished(self, settled_before: datetime, limit: int) -> list[dict[str, Any]]:
        self.sweeps += 1
        return []

    async def stale(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        return []

    async def due(self, now: datetime, limit: int) -> list[str]:
        return []

    async def start_attempt(
        self, delivery_id: str, *, now: datetime, lease_s: float
    ) -> dict[str, Any] | None:
        self.attempts.append(delivery_id)
        return None  # as if another instance had taken it: nothing is sent


class Deliverer:
    async def publish_outcomes(self, outcomes: list[dict[str, Any] | None]) -> int:
        return 0


def worker(store: Store) -> RetryWorker:
    settings = NotificationSettings(delivery_key_pepper="pepper", retry_sweep_s=3600)
    return RetryWorker(settings, store, Deliverer())  # type: ignore[arg-type]


def test_the_agenda_hands_out_what_is_due_soonest_first_and_once() -> None:
    store = Store()
    store.schedule("later", NOW + timedelta(seconds=30))
    store.schedule("second", NOW - timedelta(seconds=1))
    store.schedule("first", NOW - timedelta(seconds=5))
    store.schedule("third", NOW)
    assert store.scheduled(NOW, limit=2) == ["first", "second"]
    assert store.scheduled(NOW, limit=10) == ["third"]
    assert store.scheduled(NOW, limit=10) == []
    assert store.scheduled(NOW + timedelta(seconds=30), limit=10) == ["later"]


async def test_scheduled_retries_start_without_a_sweep_of_the_store() -> None:
    store = Store()
    retries = worker(store)
    await retries.fill()  # the sweep at start-up
    assert store.sweeps == 1
    store.schedule("d-1", NOW)
    store.schedule("d-2", NOW - timedelta(seconds=1))
    assert await retries.fill() == 2
    await asyncio.sleep(0)
    assert sorted(store.attempts) == ["d-1", "d-2"]
    assert store.sweeps == 1


async def test_a_retry_due_while_its_previous_attempt_winds_up_is_kept_for_later() -> None:
    store = Store()
    retries = worker(store)
    await retries.fill()
    winding_up = asyncio.Event()
    previous = asyncio.create_task(winding_up.wait())
    retries._in_flight["d-1"] = previous
    store.schedule("d-1", NOW)
    assert await retries.fill() == 0
    winding_up.set()
    await previous
    retries._in_flight.pop("d-1")
    assert await retries.fill() == 1
    await asyncio.sleep(0)
    assert store.attempts == ["d-1"]
