"""Officers of the receiving agency working through their queue with the real officer API.

An officer finds work in the agency's queue, claims a dossier, starts the review,
approves it with a result reference and hands the result back, each step with the
dossier's ETag in If-Match. Whatever goes wrong is answered the way an officer's client
would: a 412 or 409 (the dossier moved meanwhile, perhaps through our own request whose
answer was lost to a kill) means read the dossier again and continue from what it is
now; a 503, a 5xx or a lost connection means wait and try again.

Each request goes to the next processing replica in turn: an officer reads a dossier
through one replica and acts on it through another, as behind a load balancer.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

AGENCY = "STNMT-MT"
WORKING_STATUSES = ("received", "in_review", "approved", "rejected")
FINAL = "result_returned"
_QUEUE_PAGE = 100
# The queue is asked again only once the page it gave is worked off, and not more often
# than this: it is a query over the whole agency.
_QUEUE_EVERY_S = 5.0


@dataclass
class OfficerTally:
    finished: set[str] = field(default_factory=set)
    retries: Counter[str] = field(default_factory=Counter)
    stuck: dict[str, str] = field(default_factory=dict)


class Officers:
    def __init__(
        self,
        processing_urls: list[str],
        tokens: dict[str, str],
        concurrency: int,
        submissions_done: Callable[[], bool],
        accepted: Callable[[], set[str]],
        claim: bool = True,
    ) -> None:
        self._urls = list(processing_urls)
        self._turns = itertools.count()
        self._tokens = tokens
        self._subjects = sorted(tokens)
        self._concurrency = concurrency
        self._submissions_done = submissions_done
        self._accepted = accepted
        self._claim = claim
        self._in_hand: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.tally = OfficerTally()

    def _next_url(self) -> str:
        """The replica whose turn it is."""
        return self._urls[next(self._turns) % len(self._urls)]

    def all_done(self) -> bool:
        return self._submissions_done() and self._accepted() <= self.tally.finished

    async def run(self, deadline: float) -> None:
        """Poll the queue and work on what it shows until every accepted dossier is done.

        One page at a time, oldest first, handed out as officers become free; asking the
        queue again for every free officer would only slow the store down for everybody.
        """
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            try:
                await self._work_through(client, deadline)
            finally:
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _work_through(self, client: httpx.AsyncClient, deadline: float) -> None:
        backlog: list[dict[str, Any]] = []
        next_poll = 0.0
        while not self.all_done() and time.monotonic() < deadline:
            free = self._concurrency - len(self._in_hand)
            if free > 0 and not backlog and time.monotonic() >= next_poll:
                backlog = await self._poll_queue(client)
                next_poll = time.monotonic() + _QUEUE_EVERY_S
            while free > 0 and backlog:
                item = backlog.pop(0)
                dossier_id = item["dossier_id"]
                if dossier_id in self._in_hand or dossier_id in self.tally.finished:
                    continue
                free -= 1
                self._in_hand.add(dossier_id)
                task = asyncio.create_task(self._work_on(client, item, deadline))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            await asyncio.sleep(0.5)

    def _headers(self, subject: str, etag: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._tokens[subject]}"}
        if etag is not None:
            headers["If-Match"] = etag
        return headers

    async def _poll_queue(self, client: httpx.AsyncClient) -> list[dict[str, Any]]:
        params: list[tuple[str, str | int]] = [("status", s) for s in WORKING_STATUSES]
        params += [("sort", "received"), ("limit", _QUEUE_PAGE)]
        try:
            response = await client.get(
                f"{self._next_url()}/v1/officer/queue",
                params=params,
                headers=self._headers(self._subjects[0]),
            )
        except httpx.HTTPError:
            self.tally.retries["queue: no connection"] += 1
            return []
        if response.status_code != 200:
            self.tally.retries[f"queue: {response.status_code}"] += 1
            return []
        return list(response.json()["items"])

    async def _work_on(
        self, client: httpx.AsyncClient, item: dict[str, Any], deadline: float
    ) -> None:
        dossier_id = item["dossier_id"]
        # The same officer always takes the same dossier, as a claimed dossier is theirs.
        subject = self._subjects[hash(dossier_id) % len(self._subjects)]
        try:
            await self._drive(client, dossier_id, subject, deadline)
        finally:
            self._in_hand.discard(dossier_id)

    async def _drive(
        self, client: httpx.AsyncClient, dossier_id: str, subject: str, deadline: float
    ) -> None:
        dossier = await self._read(client, dossier_id, subject, deadline)
        while dossier is not None and time.monotonic() < deadline:
            status = dossier["status"]
            if status == FINAL:
                self.tally.finished.add(dossier_id)
                return
            step = _next_step(dossier, subject, self._claim)
            if step is None:
                self.tally.stuck[dossier_id] = status
                return
            path, body = step
            try:
                response = await client.post(
                    f"{self._next_url()}/v1/officer/dossiers/{dossier_id}/{path}",
                    json=body,
                    headers=self._headers(subject, f'"{dossier["version"]}"'),
                )
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code == 200:
                dossier = response.json()
                continue
            why = "no connection" if response is None else str(response.status_code)
            self.tally.retries[f"{path}: {why}"] += 1
            # A conflict is answered at once, except the wait for the signed result
            # document intake issues after an approval.
            if response is not None and (
                response.status_code not in {409, 412}
                or response.json().get("type", "").endswith("/result-not-issued")
            ):
                await asyncio.sleep(0.5)
            dossier = await self._read(client, dossier_id, subject, deadline)

    async def _read(
        self, client: httpx.AsyncClient, dossier_id: str, subject: str, deadline: float
    ) -> dict[str, Any] | None:
        pause = 0.3
        while time.monotonic() < deadline:
            url = f"{self._next_url()}/v1/officer/dossiers/{dossier_id}"
            try:
                response = await client.get(url, headers=self._headers(subject))
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code == 200:
                return dict(response.json())
            why = "no connection" if response is None else str(response.status_code)
            self.tally.retries[f"read: {why}"] += 1
            await asyncio.sleep(pause)
            pause = min(pause * 2, 3.0)
        return None


def _next_step(
    dossier: dict[str, Any], subject: str, claim: bool
) -> tuple[str, dict[str, Any] | None] | None:
    status = dossier["status"]
    if status == "received" and claim and dossier.get("assignee") != subject:
        return "claim", None
    if status == "received":
        return "actions", {"action": "start_review"}
    if status == "in_review":
        reference = f"{dossier['receipt_code']}/QĐ-STNMT"
        return "actions", {"action": "approve", "result_reference": reference}
    if status in ("approved", "rejected"):
        return "actions", {"action": "return_result"}
    return None
