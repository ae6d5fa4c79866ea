"""Issue 17's rules as the use cases apply them, against the in-memory store: accepting
complaints and denunciations and the clock that starts then, remote-area limits, both
denunciation extensions, the decision recorded, the supplement asked for once, the
apology slip set by the unit and signed by its leader, and the officers' search.

The clock starts on Monday 2 March 2026, 09:00 in Hà Nội (March 2026 has no public
holiday; 30 April and 1 May are days off). Complaints (KN-001) and denunciations
(TC-001) are the inspectorate's (STNMT-TTR) and count calendar days once accepted; a
limit ending on a day the office is closed runs to the next working day.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

import pytest

from chassis.calendar import VN_TZ
from chassis.events import (
    Applicant,
    ApplicantType,
    Decision,
    DossierApologyIssued,
    DossierDeadlineExtended,
    DossierKind,
    DossierStatusChanged,
    EventType,
)
from processing.domain.dossier import (
    ActionParams,
    InvalidAcceptance,
    InvalidApology,
    InvalidExtension,
    OwnApology,
    SupplementAlreadyRequested,
)
from processing.domain.workflow import (
    Action,
    ActorRole,
    DossierStatus,
    MissingParameter,
    RoleNotPermitted,
    TransitionNotAllowed,
)
from processing.service import (
    InvalidLookup,
    Officer,
    SearchQuery,
    SearchUnavailable,
)
from tests.unit.processing.test_processing_service import ALICE, LEADER, MT, World, supplement

S = DossierStatus
TTR = "STNMT-TTR"
INSPECTOR = Officer("hoa", "officer:hoa", TTR, ActorRole.OFFICER)
CHIEF = Officer("minh", "leader:minh", TTR, ActorRole.LEADER)
DEPUTY = Officer("thu", "leader:thu", TTR, ActorRole.LEADER)
KEY = "k" * 32

DECISION = Decision(
    number="45/QĐ-STNMT",
    issued_on=date(2026, 3, 20),
    summary="Giữ nguyên quyết định hành chính bị khiếu nại",
)


def on(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=VN_TZ)


def _envelope_events(world: World, dossier_id: str) -> list[dict[str, Any]]:
    return [entry["event"] for entry in world.store.records[dossier_id].outbox]


async def _complaint(world: World, code: str = "KN-001") -> str:
    return await world.submit(code, kind=DossierKind.COMPLAINT)


async def _denunciation(world: World) -> str:
    pseudonymous = Applicant(type=ApplicantType.PERSON, pseudonym="den-1")
    return await world.submit("TC-001", kind=DossierKind.DENUNCIATION, applicant=pseudonymous)


async def _act(
    world: World, dossier_id: str, officer: Officer, action: Action, **params: Any
) -> Any:
    return await world.service.act(dossier_id, officer, None, action, ActionParams(**params))


# --------------------------------------------------------------------------- acceptance


async def test_complaint_waits_for_acceptance_ten_days_law_on_complaints_art_27() -> None:
    """Law on Complaints 2011, Art. 27: within 10 days of receipt the authority accepts
    the complaint or says why not."""
    world = World()
    dossier_id = await _complaint(world)
    stored = world.store.records[dossier_id].dossier
    assert stored.status is S.AWAITING_ACCEPTANCE
    assert stored.acceptance_due_date == stored.due_date == date(2026, 3, 12)
    [event] = _envelope_events(world, dossier_id)
    assert event["data"]["new_status"] == "awaiting_acceptance"
    assert event["data"]["due_date"] == "2026-03-12"


async def test_denunciation_waits_seven_working_days_law_on_denunciation_art_29() -> None:
    """Law on Denunciation 2018, Art. 29: 7 working days from receipt to accept."""
    world = World()
    dossier_id = await _denunciation(world)
    stored = world.store.records[dossier_id].dossier
    assert stored.status is S.AWAITING_ACCEPTANCE
    assert stored.acceptance_due_date == date(2026, 3, 11)


@pytest.mark.parametrize(
    ("complex_case", "remote_area", "due"),
    [
        # Accepted Thursday 5 March: + 30 = Saturday 4 April, so Monday 6 April.
        pytest.param(False, False, date(2026, 4, 6), id="30-days"),
        # + 45 = Sunday 19 April, so Monday 20 April.
        pytest.param(True, False, date(2026, 4, 20), id="complex-45"),
        pytest.param(False, True, date(2026, 4, 20), id="remote-45"),
        # + 60 = Monday 4 May.
        pytest.param(True, True, date(2026, 5, 4), id="complex-remote-60"),
    ],
)
async def test_complaint_limit_runs_from_acceptance_law_on_complaints_art_28(
    complex_case: bool, remote_area: bool, due: date
) -> None:
    """Law on Complaints 2011, Art. 28: 30 days from acceptance, 45 for a complex case;
    in remote areas 45 and 60. The figures come from the catalogue."""
    world = World()
    dossier_id = await _complaint(world)
    world.clock.current = on(date(2026, 3, 5))
    accepted = await _act(
        world,
        dossier_id,
        INSPECTOR,
        Action.ACCEPT,
        complex_case=complex_case,
        remote_area=remote_area,
    )
    assert accepted.status is S.IN_REVIEW
    assert accepted.accepted_at == on(date(2026, 3, 5))
    assert accepted.due_date == due
    assert (accepted.complex_case, accepted.remote_area) == (complex_case, remote_area)
    event = _envelope_events(world, dossier_id)[-1]["data"]
    assert (event["action"], event["new_status"], event["due_date"]) == (
        "accept",
        "in_review",
        due.isoformat(),
    )


async def test_an_incomplete_complaint_is_accepted_once_supplemented() -> None:
    """Law on Complaints 2011, Art. 27: the acceptance time is counted without the days
    the complainant took to bring the missing letter."""
    world = World()
    dossier_id = await world.submit("KN-001", kind=DossierKind.COMPLAINT, attachments=[])
    assert world.status(dossier_id) is S.SUPPLEMENT_REQUESTED
    world.clock.current = on(date(2026, 3, 5))
    await world.service.supplement(supplement(dossier_id), "supplement-1", "citizen:an")
    stored = world.store.records[dossier_id].dossier
    assert stored.status is S.SUPPLEMENTED
    # Paused from 2 to 5 March: the 10 days end on 15 March, a Sunday, so on the 16th.
    assert stored.acceptance_due_date == stored.due_date == date(2026, 3, 16)
    with pytest.raises(TransitionNotAllowed):
        await _act(world, dossier_id, INSPECTOR, Action.START_REVIEW)
    accepted = await _act(world, dossier_id, INSPECTOR, Action.ACCEPT)
    # 30 days from acceptance on 5 March, the pause before it not counted: 4 April, a
    # Saturday, so Monday 6 April.
    assert accepted.due_date == date(2026, 4, 6)


async def test_a_denunciation_is_not_made_complex_at_acceptance() -> None:
    world = World()
    dossier_id = await _denunciation(world)
    with pytest.raises(InvalidAcceptance):
        await _act(world, dossier_id, INSPECTOR, Action.ACCEPT, complex_case=True)
    with pytest.raises(InvalidAcceptance):
        await _act(world, dossier_id, INSPECTOR, Action.ACCEPT, remote_area=True)
    assert world.status(dossier_id) is S.AWAITING_ACCEPTANCE


async def test_decline_ends_with_the_reply_handed_back_law_on_complaints_art_27() -> None:
    """Law on Complaints 2011, Art. 27: a complaint not accepted is answered in writing
    with the reason."""
    world = World()
    dossier_id = await _complaint(world)
    with pytest.raises(MissingParameter):
        await _act(world, dossier_id, INSPECTOR, Action.DECLINE)
    declined = await _act(
        world,
        dossier_id,
        INSPECTOR,
        Action.DECLINE,
        reason="Quá thời hiệu khiếu nại",
        decision=DECISION,
    )
    assert declined.status is S.REJECTED
    assert declined.decision == DECISION
    event = _envelope_events(world, dossier_id)[-1]["data"]
    assert (event["action"], event["reason"]) == ("decline", "Quá thời hiệu khiếu nại")
    assert event["decision"]["number"] == DECISION.number
    returned = await _act(world, dossier_id, INSPECTOR, Action.RETURN_RESULT)
    assert returned.status is S.RESULT_RETURNED


async def test_a_late_acceptance_is_overdue_and_the_new_limit_starts_afresh() -> None:
    world = World()
    dossier_id = await _complaint(world)
    world.clock.current = on(date(2026, 3, 13))
    assert (await world.service.scan_deadlines()).overdue == 1
    await _act(world, dossier_id, INSPECTOR, Action.ACCEPT)
    stored = world.store.records[dossier_id].dossier
    assert stored.overdue_at is None
    # 30 days from Friday 13 March: Sunday 12 April, so Monday 13 April.
    assert stored.due_date == date(2026, 4, 13)
    world.clock.current = on(date(2026, 4, 14))
    assert (await world.service.scan_deadlines()).overdue == 1


# --------------------------------------------------------------------------- extensions


async def test_denunciation_extended_twice_at_most_law_on_denunciation_art_30() -> None:
    """Law on Denunciation 2018, Art. 30: 30 days from acceptance, extended once by up
    to 30 days for a complex case and twice, 30 days each, for a particularly complex
    one: 90 days at most."""
    world = World()
    dossier_id = await _denunciation(world)
    accepted = await _act(world, dossier_id, INSPECTOR, Action.ACCEPT)
    # 30 days from Monday 2 March: Wednesday 1 April.
    assert accepted.due_date == date(2026, 4, 1)

    with pytest.raises(InvalidExtension):
        await _act(
            world, dossier_id, CHIEF, Action.EXTEND_DEADLINE, reason="Phức tạp", extension_days=31
        )
    first = await _act(world, dossier_id, CHIEF, Action.EXTEND_DEADLINE, reason="Phức tạp")
    # + 60 = Friday 1 May, a day off: Monday 4 May.
    assert first.due_date == date(2026, 5, 4)
    [extension] = first.extensions
    assert (extension.days, extension.by, extension.particularly_complex) == (
        30,
        "leader:minh",
        False,
    )

    with pytest.raises(InvalidExtension) as refused:
        await _act(world, dossier_id, CHIEF, Action.EXTEND_DEADLINE, reason="Còn phức tạp")
    assert refused.value.field_name == "particularly_complex"
    second = await _act(
        world,
        dossier_id,
        CHIEF,
        Action.EXTEND_DEADLINE,
        reason="Vụ việc đặc biệt phức tạp",
        particularly_complex=True,
        extension_days=20,
    )
    # + 80 = Thursday 21 May.
    assert second.due_date == date(2026, 5, 21)
    assert [e.days for e in second.extensions] == [30, 20]

    with pytest.raises(TransitionNotAllowed):
        await _act(
            world,
            dossier_id,
            CHIEF,
            Action.EXTEND_DEADLINE,
            reason="Lần ba",
            particularly_complex=True,
            extension_days=10,
        )
    extended = [
        e for e in _envelope_events(world, dossier_id) if e["type"] == EventType.DEADLINE_EXTENDED
    ]
    assert [(e["data"]["old_due_date"], e["data"]["new_due_date"]) for e in extended] == [
        ("2026-04-01", "2026-05-04"),
        ("2026-05-04", "2026-05-21"),
    ]
    assert DossierDeadlineExtended.model_validate(extended[1]["data"]).reason == (
        "Vụ việc đặc biệt phức tạp"
    )


async def test_complaint_accepted_as_complex_has_no_extension_left_law_on_complaints_art_28() -> (
    None
):
    """Law on Complaints 2011, Art. 28: the complex case's 45 days are the longest."""
    world = World()
    dossier_id = await _complaint(world)
    await _act(world, dossier_id, INSPECTOR, Action.ACCEPT, complex_case=True)
    with pytest.raises(TransitionNotAllowed):
        await _act(world, dossier_id, CHIEF, Action.EXTEND_DEADLINE, reason="Phức tạp")


# --------------------------------------------------------------------------- decisions


async def test_complaint_decision_is_recorded_on_the_dossier_and_the_event() -> None:
    world = World()
    dossier_id = await _complaint(world)
    await _act(world, dossier_id, INSPECTOR, Action.ACCEPT)
    with pytest.raises(MissingParameter) as caught:
        await _act(world, dossier_id, INSPECTOR, Action.APPROVE, result_reference="x")
    assert caught.value.missing == ["decision"]
    approved = await _act(world, dossier_id, INSPECTOR, Action.APPROVE, decision=DECISION)
    assert approved.decision == DECISION
    assert approved.result_reference == DECISION.number
    data = DossierStatusChanged.model_validate(_envelope_events(world, dossier_id)[-1]["data"])
    assert data.decision == DECISION
    assert data.result_reference == DECISION.number


# --------------------------------------------------------------------------- supplement once


async def test_supplement_is_asked_for_once_decree_61_art_15() -> None:
    """Decree 61/2018, Art. 15: the applicant is told once of everything missing; a
    second request needs a leader, and its reason is recorded."""
    world = World()
    dossier_id = await world.submit()
    with pytest.raises(MissingParameter):
        await _act(world, dossier_id, ALICE, Action.REQUEST_SUPPLEMENT, reason="Thiếu")
    await _act(
        world,
        dossier_id,
        ALICE,
        Action.REQUEST_SUPPLEMENT,
        reason="Thiếu giấy tờ",
        missing_documents=["eia_approval_decision"],
        missing_items=["Bản đồ vị trí khu đất"],
    )
    data = _envelope_events(world, dossier_id)[-1]["data"]
    assert data["missing_documents"] == ["eia_approval_decision"]
    assert data["missing_items"] == ["Bản đồ vị trí khu đất"]
    await world.service.supplement(supplement(dossier_id), "supplement-1", "citizen:an")
    assert world.store.records[dossier_id].dossier.missing_items == []
    await _act(world, dossier_id, ALICE, Action.START_REVIEW)
    version = world.version(dossier_id)
    with pytest.raises(SupplementAlreadyRequested):
        await _act(
            world,
            dossier_id,
            ALICE,
            Action.REQUEST_SUPPLEMENT,
            reason="Thiếu thêm",
            missing_items=["Bản sao hợp đồng"],
        )
    assert world.version(dossier_id) == version
    again = await _act(
        world,
        dossier_id,
        LEADER,
        Action.REQUEST_SUPPLEMENT,
        reason="Bản sao hợp đồng nộp bổ sung bị mờ, không đọc được",
        missing_items=["Bản sao hợp đồng"],
    )
    assert again.status is S.SUPPLEMENT_REQUESTED
    assert again.history[-1].reason == "Bản sao hợp đồng nộp bổ sung bị mờ, không đọc được"
    assert again.history[-1].actor == "leader:lan"
    data = _envelope_events(world, dossier_id)[-1]["data"]
    assert data["reason"] == "Bản sao hợp đồng nộp bổ sung bị mờ, không đọc được"
    assert {"field": "supplement_requests", "old": "1", "new": "2"} in data["changes"]


async def test_the_automatic_check_counts_as_the_one_request() -> None:
    world = World()
    dossier_id = await world.submit(attachments=[])
    assert world.status(dossier_id) is S.SUPPLEMENT_REQUESTED
    await world.service.supplement(supplement(dossier_id), "supplement-1", "citizen:an")
    await _act(world, dossier_id, ALICE, Action.START_REVIEW)
    with pytest.raises(SupplementAlreadyRequested):
        await _act(
            world,
            dossier_id,
            ALICE,
            Action.REQUEST_SUPPLEMENT,
            reason="Thiếu",
            missing_documents=["eia_approval_decision"],
        )


# --------------------------------------------------------------------------- apology slip


async def test_apology_slip_set_by_the_officer_signed_by_the_leader_decree_61_art_19() -> None:
    """Decree 61/2018, Art. 19 (as amended by Decree 118/2025): the unit that is late
    sends the applicant an apology with the new date it sets; its leader signs it."""
    world = World()
    dossier_id = await world.submit()
    proposed = await _act(
        world,
        dossier_id,
        ALICE,
        Action.PROPOSE_APOLOGY,
        new_due_date=date(2026, 3, 27),
        apology_text="Hồ sơ cần xác minh thực địa",
    )
    assert proposed.apology_proposal is not None
    assert proposed.apology_proposal.proposed_by == "officer:alice"
    assert proposed.appointment_date == date(2026, 3, 23)
    # A draft tells the applicant nothing.
    assert [e["type"] for e in _envelope_events(world, dossier_id)] == [EventType.STATUS_CHANGED]
    with pytest.raises(RoleNotPermitted):
        await _act(world, dossier_id, ALICE, Action.SIGN_APOLOGY)

    signed = await _act(world, dossier_id, LEADER, Action.SIGN_APOLOGY)
    assert signed.apology_proposal is None
    assert signed.apology is not None
    assert (signed.apology.new_due_date, signed.apology.signed_by) == (
        date(2026, 3, 27),
        "leader:lan",
    )
    assert signed.appointment_date == date(2026, 3, 27)
    assert signed.due_date == date(2026, 3, 23)
    event = _envelope_events(world, dossier_id)[-1]
    assert event["type"] == EventType.APOLOGY_ISSUED
    slip = DossierApologyIssued.model_validate(event["data"])
    assert (slip.old_due_date, slip.new_due_date, slip.reason) == (
        date(2026, 3, 23),
        date(2026, 3, 27),
        "Hồ sơ cần xác minh thực địa",
    )
    with pytest.raises(TransitionNotAllowed):
        await _act(world, dossier_id, LEADER, Action.SIGN_APOLOGY)


async def test_a_leader_cannot_sign_the_slip_he_drafted() -> None:
    world = World()
    dossier_id = await world.submit()
    await _act(
        world,
        dossier_id,
        LEADER,
        Action.PROPOSE_APOLOGY,
        new_due_date=date(2026, 3, 27),
        apology_text="Chậm do chờ ý kiến liên ngành",
    )
    with pytest.raises(OwnApology):
        await _act(world, dossier_id, LEADER, Action.SIGN_APOLOGY)
    other = Officer("nam", "leader:nam", MT, ActorRole.LEADER)
    assert (await _act(world, dossier_id, other, Action.SIGN_APOLOGY)).apology is not None


@pytest.mark.parametrize(
    "new_date",
    [
        pytest.param(date(2026, 3, 23), id="the-date-already-held"),
        pytest.param(date(2026, 3, 20), id="before-the-appointment"),
        pytest.param(date(2026, 3, 28), id="a-saturday"),
        pytest.param(date(2027, 3, 29), id="more-than-a-year-later"),
        pytest.param(date(9999, 12, 31), id="the-end-of-the-calendar"),
    ],
)
async def test_the_new_appointment_is_a_later_working_day(new_date: date) -> None:
    world = World()
    dossier_id = await world.submit()
    with pytest.raises(InvalidApology):
        await _act(
            world,
            dossier_id,
            ALICE,
            Action.PROPOSE_APOLOGY,
            new_due_date=new_date,
            apology_text="Xin lỗi",
        )


async def test_complaints_get_no_apology_slip() -> None:
    world = World()
    dossier_id = await _complaint(world)
    await _act(world, dossier_id, INSPECTOR, Action.ACCEPT)
    with pytest.raises(TransitionNotAllowed):
        await _act(
            world,
            dossier_id,
            INSPECTOR,
            Action.PROPOSE_APOLOGY,
            new_due_date=date(2026, 4, 10),
            apology_text="Xin lỗi",
        )


# --------------------------------------------------------------------------- search


def _applicant(phone: str | None, id_number: str | None) -> Applicant:
    return Applicant(
        type=ApplicantType.PERSON,
        name="An",
        email="an@example.vn",
        phone=phone,
        id_number=id_number,
    )


async def _found(world: World, officer: Officer = ALICE, **criteria: Any) -> set[str]:
    page = await world.service.search(officer, SearchQuery(**criteria))
    return {e.row.dossier_id for e in page.entries}


async def test_search_by_phone_and_id_number_through_keyed_hashes() -> None:
    world = World(search_key=KEY)
    mine = await world.submit(applicant=_applicant("0912 345 678", "001085012345"))
    other = await world.submit(applicant=_applicant("0987654321", "079200000001"))
    stored = world.store.records[mine].dossier
    assert len(stored.applicant_lookup) == 2
    assert all(len(h) == 64 for h in stored.applicant_lookup)
    assert not any("912345678" in h or "001085012345" in h for h in stored.applicant_lookup)

    assert await _found(world, phone="+84912345678") == {mine}
    assert await _found(world, phone="0912345678") == {mine}
    assert await _found(world, id_number="001 085 012 345") == {mine}
    assert await _found(world, phone="0912345678", id_number="079200000001") == set()
    assert await _found(world, phone="0912345679") == set()
    assert await _found(world) == {mine, other}
    # Another agency's officer finds nothing, whatever the number.
    assert (
        await _found(
            world, Officer("kim", "officer:kim", TTR, ActorRole.OFFICER), phone="0912345678"
        )
        == set()
    )


async def test_a_different_key_makes_different_hashes() -> None:
    first, second = World(search_key=KEY), World(search_key="z" * 32)
    applicant = _applicant("0912345678", None)
    one = await first.submit(applicant=applicant)
    two = await second.submit(applicant=applicant)
    assert first.store.records[one].dossier.applicant_lookup != (
        second.store.records[two].dossier.applicant_lookup
    )


async def test_search_by_receipt_code_status_procedure_and_dates() -> None:
    world = World(search_key=KEY)
    early = await world.submit(receipt_code="MT-260302-AAAAAA")
    world.clock.current = on(date(2026, 3, 10))
    late = await world.submit("MT-004")
    await _act(world, late, ALICE, Action.START_REVIEW)
    assert await _found(world, receipt_code="MT-260302-AAAAAA") == {early}
    assert await _found(world, statuses=[S.IN_REVIEW]) == {late}
    assert await _found(world, procedure_code="MT-004") == {early, late}
    assert await _found(world, submitted_from=date(2026, 3, 3)) == {late}
    assert await _found(world, submitted_to=date(2026, 3, 9)) == {early}
    page = await world.service.search(ALICE, SearchQuery(limit=1))
    assert [e.row.dossier_id for e in page.entries] == [early]
    assert page.next_after is not None
    rest = await world.service.search(ALICE, SearchQuery(limit=1, after=page.next_after))
    assert [e.row.dossier_id for e in rest.entries] == [late]
    assert rest.next_after is None


async def test_search_by_number_needs_the_key_and_a_real_number() -> None:
    keyless = World()
    dossier_id = await keyless.submit(applicant=_applicant("0912345678", "001085012345"))
    assert keyless.store.records[dossier_id].dossier.applicant_lookup == []
    with pytest.raises(SearchUnavailable):
        await _found(keyless, phone="0912345678")
    assert await _found(
        keyless, receipt_code=keyless.store.records[dossier_id].dossier.receipt_code
    ) == {dossier_id}
    keyed = World(search_key=KEY)
    with pytest.raises(InvalidLookup):
        await _found(keyed, phone="not a phone")
    with pytest.raises(InvalidLookup):
        await _found(keyed, id_number="AB12")
