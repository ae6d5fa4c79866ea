"""Issue 17's actions through the running service, on the real store and broker: accepting
and declining complaints, a denunciation's two extensions, the decision recorded, the
supplement asked for once, the apology slip drafted and signed, and the officers'
search by phone and ID number."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from chassis.calendar import DEFAULT_CALENDAR, VN_TZ
from chassis.events import (
    Applicant,
    ApplicantType,
    DossierApologyIssued,
    DossierDeadlineExtended,
    DossierStatusChanged,
    DossierSupplemented,
)
from tests.integration.processing.processing_harness import (
    Deployed,
    Intake,
    act,
    attachment,
    kinds,
    lifecycle_topic,
    of_dossier,
    officer,
    read_topic,
    wait_for_dossier,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

MT, TTR = "STNMT-MT", "STNMT-TTR"
CAL = DEFAULT_CALENDAR
DECISION = {
    "number": "77/QĐ-STNMT",
    "issued_on": "2026-12-01",
    "summary": "Không công nhận nội dung khiếu nại",
}


async def _events_of(
    processing: Deployed, run_id: str, dossier_id: str, until: str, count: int = 1
) -> list:
    topic = lifecycle_topic(run_id, processing.name)

    async def probe() -> list | None:
        events = of_dossier(await read_topic(processing.bootstrap, topic), dossier_id)
        return events if kinds(events)[until] >= count else None

    return await eventually(probe, timeout_s=30, what=f"{until} of {dossier_id}")


def _problem(response: httpx.Response, status: int, kind: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict = response.json()
    if kind is not None:
        assert body["type"].endswith(kind), body
    return body


async def test_a_complaint_is_accepted_then_decided_with_its_decision_recorded(
    processing: Deployed, intake: Intake, jwt_secret: str, run_id: str
) -> None:
    inspector = officer(jwt_secret, "inspector-a", TTR)
    dossier_id = await intake.submit("KN-001")
    url = processing.url
    async with httpx.AsyncClient(base_url=url, timeout=15) as client:
        read = await wait_for_dossier(
            client, url, dossier_id, inspector, status="awaiting_acceptance"
        )
        body = read.json()
        assert body["allowed_actions"] == ["accept", "decline"]
        assert body["acceptance_due_date"] == body["due_date"]
        assert (await act(client, url, dossier_id, inspector, 1, "start_review")).status_code == 409

        accepted = await act(
            client, url, dossier_id, inspector, 1, "accept", complex=True, remote_area=True
        )
        assert accepted.status_code == 200, accepted.text
        body = accepted.json()
        assert (body["status"], body["complex_case"], body["remote_area"]) == (
            "in_review",
            True,
            True,
        )
        accepted_on = datetime.fromisoformat(body["accepted_at"]).astimezone(VN_TZ).date()
        # 60 days from acceptance, on to a working day.
        assert date.fromisoformat(body["due_date"]) >= accepted_on + timedelta(days=60)

        no_decision = await act(client, url, dossier_id, inspector, 2, "reject", reason="Sai")
        assert _problem(no_decision, 422)["errors"] == [
            {"pointer": "/decision", "detail": "required"}
        ]
        rejected = await act(
            client, url, dossier_id, inspector, 2, "reject", reason="Sai", decision=DECISION
        )
        assert rejected.status_code == 200, rejected.text
        assert rejected.json()["decision"] == DECISION

    events = await _events_of(processing, run_id, dossier_id, "status:reject")
    [accept] = [
        d for _, d in events if isinstance(d, DossierStatusChanged) and d.action == "accept"
    ]
    assert accept.due_date == date.fromisoformat(body["due_date"])
    [reject] = [
        d for _, d in events if isinstance(d, DossierStatusChanged) and d.action == "reject"
    ]
    assert reject.decision is not None
    assert reject.decision.number == DECISION["number"]


async def test_a_declined_complaint_ends_with_the_reply_handed_back(
    processing: Deployed, intake: Intake, jwt_secret: str, run_id: str
) -> None:
    inspector = officer(jwt_secret, "inspector-b", TTR)
    dossier_id = await intake.submit("KN-002")
    url = processing.url
    async with httpx.AsyncClient(base_url=url, timeout=15) as client:
        await wait_for_dossier(client, url, dossier_id, inspector, status="awaiting_acceptance")
        _problem(await act(client, url, dossier_id, inspector, 1, "decline"), 422)
        declined = await act(
            client, url, dossier_id, inspector, 1, "decline", reason="Đã quá thời hiệu khiếu nại"
        )
        assert declined.json()["status"] == "rejected"
        returned = await act(client, url, dossier_id, inspector, 2, "return_result")
        assert returned.json()["status"] == "result_returned"
    events = await _events_of(processing, run_id, dossier_id, "status:return_result")
    assert kinds(events)["status:decline"] == 1


async def test_a_denunciation_is_extended_twice_and_no_more(
    processing: Deployed, intake: Intake, jwt_secret: str, run_id: str
) -> None:
    inspector = officer(jwt_secret, "inspector-c", TTR)
    chief = officer(jwt_secret, "chief-c", TTR, "leader")
    dossier_id = await intake.submit(
        "TC-001", applicant=Applicant(type=ApplicantType.PERSON, pseudonym=secrets.token_hex(4))
    )
    url = processing.url
    async with httpx.AsyncClient(base_url=url, timeout=15) as client:
        await wait_for_dossier(client, url, dossier_id, inspector, status="awaiting_acceptance")
        assert (await act(client, url, dossier_id, inspector, 1, "accept")).status_code == 200
        first = await act(client, url, dossier_id, chief, 2, "extend_deadline", reason="Phức tạp")
        assert first.status_code == 200, first.text
        plain = await act(client, url, dossier_id, chief, 3, "extend_deadline", reason="Còn nữa")
        assert _problem(plain, 422)["errors"][0]["pointer"] == "/particularly_complex"
        second = await act(
            client,
            url,
            dossier_id,
            chief,
            3,
            "extend_deadline",
            reason="Đặc biệt phức tạp",
            particularly_complex=True,
        )
        assert second.status_code == 200, second.text
        assert [e["days"] for e in second.json()["extensions"]] == [30, 30]
        assert "extend_deadline" not in second.json()["allowed_actions"]
        third = await act(
            client,
            url,
            dossier_id,
            chief,
            4,
            "extend_deadline",
            reason="Lần ba",
            particularly_complex=True,
        )
        _problem(third, 409, "action-not-allowed")

    events = await _events_of(processing, run_id, dossier_id, "dossier.deadline-extended.v1", 2)
    extended = [d for _, d in events if isinstance(d, DossierDeadlineExtended)]
    assert len(extended) == 2
    assert extended[0].new_due_date == extended[1].old_due_date
    assert extended[1].new_due_date > extended[0].new_due_date > extended[0].old_due_date


async def test_a_second_supplement_request_is_a_leaders_with_the_reason_recorded(
    processing: Deployed, intake: Intake, jwt_secret: str, run_id: str
) -> None:
    me = officer(jwt_secret, "officer-sup", MT)
    boss = officer(jwt_secret, "leader-sup", MT, "leader")
    dossier_id = await intake.submit("MT-004")
    url = processing.url
    async with httpx.AsyncClient(base_url=url, timeout=15) as client:
        read = await wait_for_dossier(client, url, dossier_id, me, status="received")
        receipt_code = read.json()["receipt_code"]
        nothing_listed = await act(client, url, dossier_id, me, 1, "request_supplement", reason="x")
        _problem(nothing_listed, 422)
        first = await act(
            client,
            url,
            dossier_id,
            me,
            1,
            "request_supplement",
            reason="Thiếu giấy tờ",
            missing_items=["Sơ đồ vị trí kho chứa chất thải"],
        )
        assert first.status_code == 200, first.text
        await intake.send(
            DossierSupplemented(
                dossier_id=dossier_id,
                receipt_code=receipt_code,
                supplemented_at=datetime.now(UTC),
                attachments=[attachment("eia_approval_decision")],
            ),
            actor="portal:test-portal",
        )
        await wait_for_dossier(client, url, dossier_id, me, status="supplemented")
        assert (await act(client, url, dossier_id, me, 3, "start_review")).status_code == 200
        again = await act(
            client, url, dossier_id, me, 4, "request_supplement", reason="Thêm", missing_items=["x"]
        )
        _problem(again, 409, "supplement-already-requested")
        by_leader = await act(
            client,
            url,
            dossier_id,
            boss,
            4,
            "request_supplement",
            reason="Sơ đồ nộp bổ sung thiếu chữ ký",
            missing_items=["Sơ đồ có chữ ký"],
        )
        assert by_leader.status_code == 200, by_leader.text
        assert by_leader.json()["history"][-1]["reason"] == "Sơ đồ nộp bổ sung thiếu chữ ký"

    events = await _events_of(processing, run_id, dossier_id, "status:request_supplement", 2)
    requests = [
        d
        for _, d in events
        if isinstance(d, DossierStatusChanged) and d.action == "request_supplement"
    ]
    assert requests[0].missing_items == ["Sơ đồ vị trí kho chứa chất thải"]
    assert requests[1].reason == "Sơ đồ nộp bổ sung thiếu chữ ký"
    assert ("supplement_requests", "1", "2") in {
        (c.field, c.old, c.new) for c in requests[1].changes
    }


async def test_the_apology_slip_is_drafted_by_an_officer_and_signed_by_a_leader(
    processing: Deployed, intake: Intake, jwt_secret: str, run_id: str
) -> None:
    me = officer(jwt_secret, "officer-apo", MT)
    boss = officer(jwt_secret, "leader-apo", MT, "leader")
    dossier_id = await intake.submit("MT-004")
    url = processing.url
    async with httpx.AsyncClient(base_url=url, timeout=15) as client:
        read = await wait_for_dossier(client, url, dossier_id, me, status="received")
        due = date.fromisoformat(read.json()["due_date"])
        new_date = CAL.add_working_days(due, 3)
        in_the_past = await act(
            client,
            url,
            dossier_id,
            me,
            1,
            "propose_apology",
            new_due_date=due.isoformat(),
            apology_text="Xin lỗi",
        )
        assert _problem(in_the_past, 422)["errors"][0]["pointer"] == "/new_due_date"
        drafted = await act(
            client,
            url,
            dossier_id,
            me,
            1,
            "propose_apology",
            new_due_date=new_date.isoformat(),
            apology_text="Cần lấy ý kiến cơ quan phối hợp nên chậm trả kết quả",
        )
        assert drafted.status_code == 200, drafted.text
        assert drafted.json()["apology_proposal"]["new_due_date"] == new_date.isoformat()
        assert drafted.json()["appointment_date"] == due.isoformat()
        _problem(await act(client, url, dossier_id, me, 2, "sign_apology"), 403)
        signed = await act(client, url, dossier_id, boss, 2, "sign_apology")
        assert signed.status_code == 200, signed.text
        body = signed.json()
        assert body["apology_proposal"] is None
        assert body["apology"]["signed_by"] == "officer:leader-apo"
        assert body["appointment_date"] == new_date.isoformat()

    events = await _events_of(processing, run_id, dossier_id, "dossier.apology-issued.v1")
    [slip] = [d for _, d in events if isinstance(d, DossierApologyIssued)]
    assert (slip.old_due_date, slip.new_due_date) == (due, new_date)
    assert slip.reason == "Cần lấy ý kiến cơ quan phối hợp nên chậm trả kết quả"


async def test_officers_find_a_dossier_by_the_applicants_phone_or_id_number(
    processing: Deployed, intake: Intake, jwt_secret: str
) -> None:
    me = officer(jwt_secret, "officer-find", MT)
    stranger = officer(jwt_secret, "officer-far", "STNMT-KS")
    digits = f"{secrets.randbelow(10**7):07d}"
    id_number = f"00108{secrets.randbelow(10**7):07d}"
    applicant = Applicant(
        type=ApplicantType.PERSON,
        name="Phạm Thị Dung",
        email="dung@example.vn",
        phone=f"+8491{digits}",
        id_number=id_number,
    )
    dossier_id = await intake.submit("MT-004", applicant=applicant)
    url = processing.url
    async with httpx.AsyncClient(base_url=url, timeout=15) as client:
        await wait_for_dossier(client, url, dossier_id, me)

        async def search(headers: dict[str, str], **criteria: object) -> httpx.Response:
            return await client.post("/v1/officer/dossiers/search", json=criteria, headers=headers)

        def found(response: httpx.Response) -> list[str]:
            assert response.status_code == 200, response.text
            return [item["dossier_id"] for item in response.json()["items"]]

        assert found(await search(me, phone=f"091 {digits[:3]} {digits[3:]}")) == [dossier_id]
        assert found(await search(me, id_number=f"{id_number[:6]}-{id_number[6:]}")) == [dossier_id]
        assert found(await search(me, phone=f"+8491{digits}", statuses=["received"])) == [
            dossier_id
        ]
        assert found(await search(me, phone=f"+8491{digits}", statuses=["approved"])) == []
        assert found(await search(stranger, phone=f"+8491{digits}")) == []
        _problem(await search(me, phone="not-a-phone"), 422)
        _problem(await search(me, phone=f"+8491{digits}", surname="Dung"), 422)
