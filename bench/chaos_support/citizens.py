"""Citizens submitting dossiers through portals at a steady rate, as portals retry.

Each dossier has its own Idempotency-Key from its first attempt to its last. A 503 (the
broker or the store is away), a 429, a 409 "still in progress", a 5xx or a lost
connection (intake was killed) is retried with the same key and the same portal
client's token, so a retry can only ever return the first dossier, never make a second
one. A dossier counts as accepted only when a 202 came back.

Submissions go to the intake replicas in turn, and each retry to the next replica (as a
load balancer sends a retry away from a replica that dropped the connection), so the
first attempt and its retry are often answered by different processes.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.chaos_support.plan import Plan
from tests.support.documents import attachment_for, upload_samples

PROCEDURE = "MT-004"
# Portal clients sharing the load: each is held to intake's per-client rate limit.
PORTAL_CLIENTS = 16
# How long one dossier's submission may keep being retried.
GIVE_UP_AFTER_S = 300.0
_RETRYABLE = {409, 429, 500, 502, 503, 504}


@dataclass
class Submission:
    index: int
    idempotency_key: str
    client: int
    email: str
    phone: str | None
    portal_account: str | None
    attempts: int = 0
    dossier_id: str | None = None
    receipt_code: str | None = None
    refused: int | None = None


@dataclass
class CitizenTally:
    submitted: int = 0
    accepted: int = 0
    retries: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    done: bool = False


# The documents every dossier names: uploaded once before the first submission (intake
# keeps one copy of identical bytes), as a portal uploads before it submits.
DOCUMENT_CODES = ("application_form", "business_registration")


def body_for(submission: Submission) -> dict[str, Any]:
    """Registration as a hazardous-waste source owner, with every mandatory document, so
    the automatic check receives it and an officer can decide it."""
    applicant: dict[str, Any] = {
        "type": "person",
        "name": f"Nguyễn Văn Thử {submission.index}",
        "id_number": f"001099{submission.index % 1_000_000:06d}",
        "email": submission.email,
        "address": "Số 1 Tràng Tiền, Hoàn Kiếm, Hà Nội",
    }
    if submission.phone:
        applicant["phone"] = submission.phone
    if submission.portal_account:
        applicant["portal_account"] = submission.portal_account
    return {
        "procedure_code": PROCEDURE,
        "channel": "online",
        "applicant": applicant,
        "form": {
            "facility_name": f"Xưởng cơ khí số {submission.index}",
            "facility_address": "Cụm công nghiệp Phú Lãm, Hà Đông, Hà Nội",
            "waste_items": [
                {
                    "waste_code": "17 02 03",
                    "name": "Dầu thải",
                    "state": "liquid",
                    "quantity_kg_per_year": 100 + submission.index,
                }
            ],
        },
        "attachments": [
            *(attachment_for(code) for code in DOCUMENT_CODES),
        ],
    }


def plan_submissions(plan: Plan, run: str, rng: random.Random) -> list[Submission]:
    submissions = []
    for index in range(plan.dossiers):
        submissions.append(
            Submission(
                index=index,
                idempotency_key=str(uuid.UUID(int=rng.getrandbits(128))),
                client=index % PORTAL_CLIENTS,
                email=f"citizen{index}.{run}@example.vn",
                phone=f"09{index % 100_000_000:08d}" if rng.random() < plan.sms_share else None,
                portal_account=(
                    f"cd-{run}-{index:06d}" if rng.random() < plan.webhook_share else None
                ),
            )
        )
    return submissions


class Citizens:
    def __init__(
        self,
        plan: Plan,
        intake_urls: list[str],
        tokens: list[str],
        submissions: list[Submission],
    ) -> None:
        self._plan = plan
        self._urls = [f"{url}/v1/dossiers" for url in intake_urls]
        self._tokens = tokens
        self.submissions = submissions
        self.tally = CitizenTally()
        # Accepted dossiers, for the officers' bookkeeping and the final checks.
        self.accepted: dict[str, Submission] = {}

    async def upload_documents(self) -> None:
        base_url = self._urls[0].removesuffix("/v1/dossiers")
        token = {"Authorization": f"Bearer {self._tokens[0]}"}
        await asyncio.to_thread(upload_samples, base_url, lambda code: token, DOCUMENT_CODES)

    async def run(self) -> None:
        await self.upload_documents()
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            started = time.monotonic()
            tasks = []
            for submission in self.submissions:
                due = started + submission.index / self._plan.rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                self.tally.submitted += 1
                tasks.append(asyncio.create_task(self._submit(client, submission)))
            await asyncio.gather(*tasks)
        self.tally.done = True

    async def _submit(self, client: httpx.AsyncClient, submission: Submission) -> None:
        body = body_for(submission)
        headers = {
            "Authorization": f"Bearer {self._tokens[submission.client]}",
            "Idempotency-Key": submission.idempotency_key,
        }
        give_up = time.monotonic() + GIVE_UP_AFTER_S
        pause = 0.5
        while True:
            submission.attempts += 1
            if submission.attempts > 1:
                self.tally.retries += 1
            url = self._urls[(submission.index + submission.attempts - 1) % len(self._urls)]
            try:
                response = await client.post(url, json=body, headers=headers)
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code == 202:
                answer = response.json()
                submission.dossier_id = answer["dossier_id"]
                submission.receipt_code = answer["receipt_code"]
                self.accepted[answer["dossier_id"]] = submission
                self.tally.accepted += 1
                return
            if response is not None and response.status_code not in _RETRYABLE:
                submission.refused = response.status_code
                self.tally.refused[str(response.status_code)] += 1
                return
            if time.monotonic() > give_up:
                submission.refused = response.status_code if response is not None else 0
                self.tally.refused["gave up"] += 1
                return
            wait = pause
            if response is not None and response.headers.get("Retry-After", "").isdigit():
                wait = min(float(response.headers["Retry-After"]), 5.0)
            await asyncio.sleep(wait)
            pause = min(pause * 2, 5.0)
