"""What several replicas of a service must not do: take one submission twice, let two
officers both win a race for one dossier, or fork the audit chain.

Each race is run against different replicas at the same moment, the way a load balancer
spreads a portal's retries and the officers of one agency over them."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import pytest

from chassis.events import Topics
from tests.e2e.conftest import Platform
from tests.e2e.observability_support import (
    merged,
    new_applicant,
    scrape_replicas,
    total,
    waste_registration,
)
from tests.e2e.trails import by_occurrence
from tests.support.tokens import bearer
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

MT = "STNMT-MT"
# Requests sent at once to each replica in a race.
PER_REPLICA = 2


def _needs_replicas(platform: Platform, name: str) -> None:
    if len(platform.replicas[name]) < 2:
        pytest.skip(f"one {name} replica only (HOSO_E2E_REPLICAS=1): there is no race")


async def _trail(
    client: httpx.AsyncClient, platform: Platform, auditor: dict[str, str], dossier_id: str
) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for url in platform.urls("audit"):
        response = await client.get(f"{url}/v1/audit/dossiers/{dossier_id}", headers=auditor)
        assert response.status_code == 200, response.text
        entries = response.json()["entries"]
    return entries


async def _quiet(client: httpx.AsyncClient, platform: Platform, *groups: str) -> bool:
    """Every replica of these consumer groups has handled everything on its partitions."""
    for group in groups:
        _, each = await scrape_replicas(client, platform.urls(group))
        if total(merged(each), "hoso_consumer_lag", group=group) != 0:
            return False
    return True


async def test_one_submission_sent_to_every_intake_replica_at_once_is_one_dossier(
    platform: Platform, jwt_secret: str
) -> None:
    _needs_replicas(platform, "intake")
    portal = bearer(jwt_secret, "portal-replicas", "portal")
    auditor = bearer(jwt_secret, "auditor-replicas", "auditor")
    applicant = new_applicant("Lê Thị")
    body = waste_registration(applicant)
    headers = portal | {"Idempotency-Key": secrets.token_hex(16)}

    async def until_answered(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
        # A 409 "in progress" means another replica holds the first request: retry, as a
        # portal does, until the first answer is there to be replayed.
        for _ in range(60):
            response = await client.post(f"{url}/v1/dossiers", json=body, headers=headers)
            if response.status_code == 202:
                return dict(response.json())
            assert response.status_code == 409, response.text
            assert response.json()["title"] == "Submission in progress", response.text
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
        raise AssertionError(f"{url} kept answering 409")

    async with httpx.AsyncClient(timeout=15) as client:
        answers = await asyncio.gather(
            *(
                until_answered(client, url)
                for url in platform.urls("intake")
                for _ in range(PER_REPLICA)
            )
        )
        assert len({a["dossier_id"] for a in answers}) == 1, answers
        assert len({a["receipt_code"] for a in answers}) == 1, answers
        dossier_id = answers[0]["dossier_id"]

        async def recorded() -> list[dict[str, Any]] | None:
            entries = await _trail(client, platform, auditor, dossier_id)
            return entries if len(entries) >= 3 else None

        await eventually(recorded, what="the dossier's audit trail")

        async def mailed() -> list[Any]:
            return platform.mail.to(applicant.email)

        await eventually(mailed, what="the citizen's email")

        async def settled() -> bool:
            return await _quiet(client, platform, "processing", "notification", "audit")

        assert await eventually(settled, what="processing, notification and audit caught up")
        entries = await _trail(client, platform, auditor, dossier_id)
    assert by_occurrence(entries) == [
        "dossier.submitted.v1",
        "dossier.status-changed.v1",
        "notification.sent.v1",
    ], [(e["seq"], e["event_type"], e["occurred_at"], e["recorded_at"]) for e in entries]
    # One dossier, one email: a second dossier from the same request would mail again.
    assert len(platform.mail.to(applicant.email)) == 1


async def test_officers_racing_through_different_processing_replicas_one_wins(
    platform: Platform, jwt_secret: str
) -> None:
    _needs_replicas(platform, "processing")
    portal = bearer(jwt_secret, "portal-replicas", "portal")
    auditor = bearer(jwt_secret, "auditor-replicas", "auditor")
    officers = [
        bearer(jwt_secret, f"officer-race-{n}", "officer", agency=MT)
        for n in range(len(platform.replicas["processing"]) * PER_REPLICA)
    ]
    applicant = new_applicant("Phạm Thị")
    async with httpx.AsyncClient(timeout=15) as client:
        submitted = await client.post(
            f"{platform.url_of('intake', 1)}/v1/dossiers",
            json=waste_registration(applicant),
            headers=portal,
        )
        assert submitted.status_code == 202, submitted.text
        dossier_id = submitted.json()["dossier_id"]
        path = f"/v1/officer/dossiers/{dossier_id}"

        async def received() -> httpx.Response | None:
            response = await client.get(platform.url("processing") + path, headers=officers[0])
            return response if response.status_code == 200 else None

        read = await eventually(received, what="the dossier in the agency's queue")
        assert read.json()["status"] == "received"
        etag = read.headers["ETag"]

        # Every officer read the same version and acts on it at once, each through the
        # replica whose turn it is.
        answers = await asyncio.gather(
            *(
                client.post(
                    f"{platform.url_of('processing', n)}{path}/actions",
                    json={"action": "start_review"},
                    headers=officer | {"If-Match": etag},
                )
                for n, officer in enumerate(officers)
            )
        )
        statuses = sorted(a.status_code for a in answers)
        assert statuses[0] == 200, [a.text for a in answers]
        assert statuses.count(200) == 1, [a.text for a in answers]
        assert set(statuses[1:]) <= {409, 412}, [a.text for a in answers]

        after = await client.get(platform.url_of("processing", 1) + path, headers=officers[0])
        assert after.status_code == 200, after.text
        dossier = after.json()
        assert dossier["status"] == "in_review"
        assert [h["action"] for h in dossier["history"]].count("start_review") == 1

        async def recorded() -> list[dict[str, Any]] | None:
            entries = await _trail(client, platform, auditor, dossier_id)
            return entries if len(entries) >= 4 else None

        await eventually(recorded, what="the review's audit entry")

        async def settled() -> bool:
            return await _quiet(client, platform, "processing", "audit")

        assert await eventually(settled, what="processing and audit caught up")
        entries = await _trail(client, platform, auditor, dossier_id)
    changes = [e for e in entries if e["event_type"] == "dossier.status-changed.v1"]
    assert len(changes) == 2, entries  # received, then in_review: once each


@pytest.mark.after_e2e
async def test_every_audit_replica_wrote_into_one_chain_that_verifies(
    platform: Platform, jwt_secret: str, run_id: str
) -> None:
    """Runs after the others, over everything they had audited."""
    auditor = bearer(jwt_secret, "auditor-replicas", "auditor")
    prefix = f"{run_id}."
    async with httpx.AsyncClient(timeout=120) as client:
        _, each = await scrape_replicas(client, platform.urls("audit"))
        consumed = "hoso_events_consumed_total"
        handled = [
            sum(total(samples, consumed, topic=prefix + t, outcome="handled") for t in Topics.ALL)
            for samples in each
        ]
        # Both replicas recorded events, or there would be no second writer to the chain.
        assert all(handled), dict(zip(platform.urls("audit"), handled, strict=True))
        for url in platform.urls("audit"):
            answer = await client.get(f"{url}/v1/audit/verify", headers=auditor)
            assert answer.status_code == 200, answer.text
            report = answer.json()
            assert report["ok"] is True, report
            assert report["tree_size"] >= 1, report
