"""The load: submissions POSTed at a set rate, spread over the intake replicas, and the
audit entries of the citizens' notifications that end each dossier's journey."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
from motor.motor_asyncio import AsyncIOMotorCollection
from pymongo import ASCENDING

from bench.pipeline.infra import ROOT
from bench.pipeline.platform import NOTIFICATION_SENT, Posted, recorded_time

EXAMPLE = ROOT / "docs" / "examples" / "submission.json"


class Submissions:
    """The README's submission (``docs/examples/submission.json``), each with an address of
    its own so that every citizen's notification is a message of its own."""

    _SLOT = "@@email@@"

    def __init__(self, run: str) -> None:
        example: dict[str, Any] = json.loads(EXAMPLE.read_text())
        example["applicant"]["email"] = self._SLOT
        # Serialised once: the load generator must not become what limits the rate.
        self._template = json.dumps(example, ensure_ascii=False)
        self._run = run

    def body(self, n: int) -> tuple[str, bytes]:
        email = f"citizen{n}.{self._run}@example.vn"
        return email, self._template.replace(self._SLOT, email).encode()


class Sender:
    """Open loop: the n-th submission is due at start + n / rate whatever became of the
    earlier ones, at most ``in_flight`` requests open at once (beyond that the sender waits
    and the step shows as fallen behind), round robin over the intake replicas."""

    def __init__(
        self, intakes: Sequence[str], token: str, submissions: Submissions, in_flight: int
    ) -> None:
        self._intakes = list(intakes)
        self._token = token
        self._submissions = submissions
        self._in_flight = in_flight
        self._next = 0  # numbers stay unique over the steps of a run

    async def offer(self, rate: float, duration: float, posted: list[Posted]) -> None:
        count = max(1, round(rate * duration))
        slots = asyncio.Semaphore(self._in_flight)
        limits = httpx.Limits(
            max_connections=self._in_flight, max_keepalive_connections=self._in_flight
        )
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:

            async def one(n: int, intake: str) -> None:
                try:
                    email, body = self._submissions.body(n)
                    item = Posted(n, email, time.time())
                    posted.append(item)
                    headers = {
                        "Authorization": f"Bearer {self._token}",
                        "Content-Type": "application/json",
                        "Idempotency-Key": str(uuid.uuid4()),
                    }
                    try:
                        response = await client.post(
                            f"{intake}/v1/dossiers", content=body, headers=headers
                        )
                        item.status = response.status_code
                        if response.status_code == 202:
                            item.dossier_id = response.json()["dossier_id"]
                    except httpx.HTTPError as exc:
                        item.status = type(exc).__name__
                    item.finished = time.time()
                finally:
                    slots.release()

            started = time.monotonic()
            tasks = []
            for i in range(count):
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await slots.acquire()
                n = self._next
                self._next += 1
                intake = self._intakes[n % len(self._intakes)]
                tasks.append(asyncio.create_task(one(n, intake)))
            await asyncio.gather(*tasks)


class NotificationWatch:
    """When the audit service recorded each dossier's ``notification.sent`` event, read as
    the pipeline benchmark reads it (its ``recorded_at``), incrementally along the chain's
    ``seq`` through the audit service's own (event_type, seq) index."""

    # Entries written by concurrent writers may become visible slightly out of seq order;
    # each poll looks this far back again (already known dossiers are kept as they were).
    LOOK_BACK = 200

    def __init__(self, entries: AsyncIOMotorCollection[Any]) -> None:
        self._entries = entries
        self._seq = -1
        self.at: dict[str, float] = {}

    async def poll(self) -> None:
        cursor = self._entries.find(
            {"event_type": NOTIFICATION_SENT, "seq": {"$gt": self._seq - self.LOOK_BACK}},
            {"dossier_id": 1, "recorded_at": 1, "seq": 1},
        ).sort("seq", ASCENDING)
        async for entry in cursor:
            self.at.setdefault(str(entry["dossier_id"]), recorded_time(entry))
            self._seq = max(self._seq, int(entry["seq"]))
