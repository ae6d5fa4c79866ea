"""Public statistics over a seeded set of dossiers, against figures worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import httpx
import pytest

from chassis.calendar import DEFAULT_CALENDAR, VN_TZ
from chassis.events import DossierWithdrawalRequested
from tests.integration.processing.processing_harness import (
    Deployed,
    Intake,
    act,
    officer,
    wait_for_dossier,
)

pytestmark = pytest.mark.integration

CAL = DEFAULT_CALENDAR
AGENCY = "STNMT-DBKT"


def _working_day_about_six_weeks_ago(today: date) -> date:
    day = today - timedelta(days=42)
    while not CAL.is_working_day(day):
        day -= timedelta(days=1)
    return day


async def test_statistics_match_hand_counted_figures(
    processing: Deployed, intake: Intake, jwt_secret: str
) -> None:
    me = officer(jwt_secret, "officer-stat", AGENCY)
    today = datetime.now(VN_TZ).date()
    start_day = _working_day_about_six_weeks_ago(today)
    old = datetime.combine(start_day, time(9), tzinfo=VN_TZ)
    email = "thong.ke.secret@example.vn"

    # KTTV-001 (15 working days) and DDBD-001 (5 working days), both of this agency.
    on_time = await intake.submit("KTTV-001", email=email)
    late = await intake.submit("KTTV-001", submitted_at=old)
    overdue = await intake.submit("KTTV-001", submitted_at=old)
    waiting = await intake.submit("KTTV-001")
    withdrawn = await intake.submit("KTTV-001")
    rejected = await intake.submit("DDBD-001")
    paused = await intake.submit("DDBD-001", documents=(), submitted_at=old)

    url = processing.url
    async with httpx.AsyncClient(base_url=url, timeout=15) as client:
        for dossier_id in (on_time, late, overdue, waiting, withdrawn, rejected, paused):
            await wait_for_dossier(client, url, dossier_id, me)
        for dossier_id, decision in (
            (on_time, {"action": "approve", "result_reference": "GP-KTTV-1"}),
            (late, {"action": "approve", "result_reference": "GP-KTTV-2"}),
            (rejected, {"action": "reject", "reason": "Không thuộc phạm vi cung cấp"}),
        ):
            assert (await act(client, url, dossier_id, me, 1, "start_review")).status_code == 200
            action = decision.pop("action")
            decided = await act(client, url, dossier_id, me, 2, action, **decision)
            assert decided.status_code == 200, decided.text
        receipt = (await client.get(f"/v1/officer/dossiers/{withdrawn}", headers=me)).json()
        await intake.send(
            DossierWithdrawalRequested(
                dossier_id=withdrawn,
                receipt_code=receipt["receipt_code"],
                requested_at=datetime.now(UTC),
            ),
            actor="portal:test-portal",
        )
        await wait_for_dossier(client, url, withdrawn, me, status="withdrawn")

        period = {"from": start_day.isoformat(), "to": today.isoformat()}
        response = await client.get("/v1/statistics", params=period | {"agency": AGENCY})
        assert response.status_code == 200, response.text
        everything = await client.get("/v1/statistics", params=period)
        assert everything.status_code == 200
        refused = await client.get(
            "/v1/statistics", params={"from": today.isoformat(), "to": start_day.isoformat()}
        )
        too_long = await client.get(
            "/v1/statistics", params={"from": "2020-01-01", "to": today.isoformat()}
        )

    # The late dossier was received on start_day and decided today, with no pause.
    late_days = CAL.working_days_between(start_day, today)
    body = response.json()
    assert (body["period_from"], body["period_to"], body["as_of"]) == (
        start_day.isoformat(),
        today.isoformat(),
        today.isoformat(),
    )
    procedures = {p["procedure_code"]: p for p in body["procedures"]}
    assert set(procedures) == {"KTTV-001", "DDBD-001"}
    figures = (
        "received",
        "in_progress",
        "withdrawn",
        "resolved_on_time",
        "resolved_late",
        "overdue_now",
        "on_time_rate",
        "average_working_days",
    )

    def row(item: dict) -> tuple:
        return tuple(item[f] for f in figures)

    assert row(procedures["KTTV-001"]) == (5, 2, 1, 1, 1, 1, 0.5, round(late_days / 2, 2))
    assert row(procedures["DDBD-001"]) == (2, 1, 0, 1, 0, 0, 1.0, 0.0)
    [agency] = body["agencies"]
    assert agency["agency"] == AGENCY
    assert agency["agency_name_vi"].startswith("Phòng Đo đạc")
    assert row(agency) == (7, 3, 1, 2, 1, 1, 0.6667, round(late_days / 3, 2))
    assert row(body["total"]) == row(agency)

    unfiltered = {a["agency"]: a for a in everything.json()["agencies"]}
    assert row(unfiltered[AGENCY]) == row(agency)
    assert email not in response.text
    assert email not in everything.text

    for problem in (refused, too_long):
        assert problem.status_code == 422
        assert problem.headers["content-type"].startswith("application/problem+json")
