"""What the retry worker does with one round of answers from the store: no broker and
no store; the store's answers are scripted here, the worker is the real one."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from notification.service import RetryWorker
from notification.settings import NotificationSettings


class Store:
    """Answers the worker's three queries from lists and records the claims it is asked
    for; lets every take-over fail, as if another replica had won them, and every due
    attempt be won but those in ``lost``."""

    def __init__(self) -> None:
        self.due_now: list[tuple[str, int]] = []
        self.stale_now: list[dict[str, Any]] = []
        self.unpublished_now: list[dict[str, Any]] = []
        self.limits: list[tuple[str, int]] = []
        self.claims: list[tuple[str, str, int]] = []
        self.claim_rounds = 0
        self.lost: set[str] = set()

    async def claim_unpublished(
        self, now: datetime, hold_s: float, limit: int
    ) -> list[dict[str, Any]]:
        self.limits.append(("unpublished", limit))
        return self.unpublished_now

    async def stale(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        self.limits.append(("stale", limit))
        return self.stale_now[:limit]

    async def due(self, now: datetime, limit: int) -> list[tuple[str, int]]:
        self.limits.append(("due", limit))
        return self.due_now[:limit]

    async def start_attempts(
        self, due: list[tuple[str, int]], *, now: datetime, lease_s: float
    ) -> list[dict[str, Any]]:
        self.claim_rounds += 1
        self.claims.extend(("start", delivery_id, attempts) for delivery_id, attempts in due)
        return [
            {"_id": delivery_id, "channel": "sms", "attempts": attempts + 1}
            for delivery_id, attempts in due
            if delivery_id not in self.lost
        ]

    async def retake_stale(
        self, delivery_id: str, attempts: int, *, now: datetime, lease_s: float
    ) -> dict[str, Any] | None:
        self.claims.append(("retake", delivery_id, attempts))
        return None


class Deliverer:
    def __init__(self) -> None:
        self.published: list[list[dict[str, Any] | None]] = []
        self.interrupted: list[str] = []
        self.attempted: list[tuple[str, int]] = []

    def idempotent(self, channel: Any) -> bool:
        return channel.value != "email"

    async def give_up_interrupted(self, delivery: dict[str, Any], reason: str) -> None:
        self.interrupted.append(delivery["_id"])

    async def attempt(self, delivery: dict[str, Any], *, timeout_s: float) -> None:
        self.attempted.append((delivery["_id"], delivery["attempts"]))

    async def publish_outcomes(self, outcomes: list[dict[str, Any] | None]) -> list[Any]:
        self.published.append(list(outcomes))
        return []


def worker(store: Store, deliverer: Deliverer, concurrency: int = 4) -> RetryWorker:
    settings = NotificationSettings(
        delivery_key_pepper="pepper", delivery_concurrency=concurrency, retry_batch=50
    )
    return RetryWorker(settings, store, deliverer)  # type: ignore[arg-type]


async def test_a_round_publishes_what_is_overdue_then_claims_up_to_its_capacity() -> None:
    store, deliverer = Store(), Deliverer()
    overdue = {"_id": "u-1", "status": "sent_unpublished"}
    store.unpublished_now = [overdue]
    store.due_now = [("d-1", 1), ("d-2", 3), ("d-3", 0)]
    retries = worker(store, deliverer, concurrency=2)

    assert await retries.run_once() == 2

    assert deliverer.published[0] == [overdue]
    assert store.limits == [("unpublished", 50), ("stale", 2), ("due", 2)]
    # Each claim carries the attempt count the query saw, for the store's filter.
    assert sorted(store.claims) == [("start", "d-1", 1), ("start", "d-2", 3)]


async def test_abandoned_attempts_come_first_and_an_email_is_failed_not_repeated() -> None:
    store, deliverer = Store(), Deliverer()
    store.stale_now = [
        {"_id": "s-sms", "channel": "sms", "attempts": 2},
        {"_id": "s-email", "channel": "email", "attempts": 1},
    ]
    store.due_now = [("d-1", 1), ("d-2", 1)]
    retries = worker(store, deliverer, concurrency=3)

    assert await retries.run_once() == 3

    assert store.limits[1:] == [("stale", 3), ("due", 1)]
    assert sorted(store.claims) == [("retake", "s-sms", 2), ("start", "d-1", 1)]
    assert deliverer.interrupted == ["s-email"]


async def test_a_delivery_still_in_flight_is_not_started_again_until_it_is_done() -> None:
    store, deliverer = Store(), Deliverer()
    store.due_now = [("d-1", 1)]
    retries = worker(store, deliverer)
    winding_up = asyncio.Event()
    previous = asyncio.create_task(winding_up.wait())
    retries._in_flight["d-1"] = previous

    assert await retries.fill() == 0
    assert store.claims == []

    winding_up.set()
    await previous
    retries._in_flight.pop("d-1")
    assert await retries.run_once() == 1
    assert store.claims == [("start", "d-1", 1)]


async def test_a_full_worker_still_publishes_but_asks_for_no_attempts() -> None:
    store, deliverer = Store(), Deliverer()
    store.due_now = [("d-1", 1)]
    retries = worker(store, deliverer, concurrency=1)
    busy = asyncio.Event()
    retries._in_flight["other"] = asyncio.create_task(busy.wait())

    assert await retries.fill() == 0
    assert [name for name, _ in store.limits] == ["unpublished"]
    assert len(deliverer.published) == 1
    busy.set()
    await retries._in_flight.pop("other")


async def test_the_due_attempts_of_a_round_are_claimed_together_and_only_those_won_made() -> None:
    store, deliverer = Store(), Deliverer()
    store.due_now = [("d-1", 1), ("d-2", 3), ("d-3", 0)]
    store.lost = {"d-2"}  # another replica claimed it first
    retries = worker(store, deliverer, concurrency=8)

    assert await retries.run_once() == 2

    assert store.claim_rounds == 1
    assert sorted(store.claims) == [("start", "d-1", 1), ("start", "d-2", 3), ("start", "d-3", 0)]
    assert sorted(deliverer.attempted) == [("d-1", 2), ("d-3", 1)]
    assert len(deliverer.published) == 3  # the overdue outcomes, then each attempt's
