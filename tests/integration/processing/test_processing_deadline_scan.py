"""The deadline scan against the real store and broker: one overdue event per dossier,
however often and however concurrently the scan runs, and no apology slip of its own
(the responsible unit sets its date and its leader signs it)."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta

import httpx
import pytest

from chassis.calendar import DEFAULT_CALENDAR, VN_TZ, due_date
from chassis.events import DossierOverdue
from tests.integration.processing.processing_harness import (
    Deployed,
    Intake,
    kinds,
    lifecycle_topic,
    of_dossier,
    officer,
    read_topic,
    wait_for_dossier,
)
from tests.support.tokens import bearer
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

CAL = DEFAULT_CALENDAR


def morning(day: date) -> datetime:
    return datetime.combine(day, time(9), tzinfo=VN_TZ)


def submitted_to_fall_due_on(target: date, working_days: int) -> datetime:
    """A working-day morning from which ``working_days`` end on ``target``."""
    day = target
    while True:
        day -= timedelta(days=1)
        if CAL.is_working_day(day) and due_date(morning(day), working_days) == target:
            return morning(day)


async def test_scan_emits_overdue_once_and_no_apology(
    processing: Deployed, intake: Intake, jwt_secret: str, run_id: str
) -> None:
    operator = bearer(jwt_secret, "ops-1", "operator")
    mt = officer(jwt_secret, "officer-s", "STNMT-MT")
    ttr = officer(jwt_secret, "officer-t", "STNMT-TTR")
    today = datetime.now(VN_TZ).date()
    long_ago = morning(today - timedelta(days=70))
    # Due today, or on the next working day when today is a day off: the slip used to be
    # sent by itself then; the dossier is not late yet.
    due_next = today if CAL.is_working_day(today) else CAL.next_working_day(today)

    late = await intake.submit("MT-004", submitted_at=long_ago)
    due_soon = await intake.submit("MT-004", submitted_at=submitted_to_fall_due_on(due_next, 15))
    fresh = await intake.submit("MT-004")
    paused = await intake.submit("MT-004", documents=(), submitted_at=long_ago)
    complaint = await intake.submit("KN-001", submitted_at=long_ago)
    ours = {late: mt, due_soon: mt, fresh: mt, paused: mt, complaint: ttr}

    async with httpx.AsyncClient(base_url=processing.url, timeout=30) as client:
        for dossier_id, headers in ours.items():
            await wait_for_dossier(client, processing.url, dossier_id, headers)
        assert (await client.post("/v1/ops/deadline-scan", headers=mt)).status_code == 403

        for _ in range(3):
            scanned = await client.post("/v1/ops/deadline-scan", headers=operator)
            assert scanned.status_code == 200, scanned.text
        together = await asyncio.gather(
            *(client.post("/v1/ops/deadline-scan", headers=operator) for _ in range(4))
        )
        assert {r.status_code for r in together} == {200}

        view = (await client.get(f"/v1/officer/dossiers/{late}", headers=mt)).json()
        assert view["overdue"] is True
        assert view["appointment_date"] == view["due_date"]
        assert view["apology"] is None
        soon_view = (await client.get(f"/v1/officer/dossiers/{due_soon}", headers=mt)).json()
        assert soon_view["due_date"] == due_next.isoformat()
        assert soon_view["overdue"] is False

        # A note after the scans is a barrier: the relay publishes each dossier's events in
        # order, so once the note is on the topic every earlier event is too.
        for dossier_id, headers in ours.items():
            note = await client.post(
                f"/v1/officer/dossiers/{dossier_id}/notes",
                json={"text": "kiểm tra"},
                headers=headers,
            )
            assert note.status_code == 201

    topic = lifecycle_topic(run_id, processing.name)

    async def all_notes_published() -> list | None:
        events = await read_topic(processing.bootstrap, topic)
        per = {d: kinds(of_dossier(events, d)) for d in ours}
        return events if all(c["dossier.note-added.v1"] == 1 for c in per.values()) else None

    events = await eventually(all_notes_published, timeout_s=30, what="the barrier notes")
    counted = {d: kinds(of_dossier(events, d)) for d in ours}
    overdue, apology = "dossier.overdue.v1", "dossier.apology-issued.v1"
    assert (counted[late][overdue], counted[late][apology]) == (1, 0)
    assert (counted[due_soon][overdue], counted[due_soon][apology]) == (0, 0)
    assert (counted[fresh][overdue], counted[fresh][apology]) == (0, 0)
    assert (counted[paused][overdue], counted[paused][apology]) == (0, 0)
    # A complaint not accepted within its acceptance time is late like anything else.
    assert (counted[complaint][overdue], counted[complaint][apology]) == (1, 0)
    notices = [d for e, d in of_dossier(events, late) if isinstance(d, DossierOverdue)]
    assert notices[0].due_date.isoformat() == view["due_date"]
