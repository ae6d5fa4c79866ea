"""The dossier's rules: arrival check, actions, clock pauses, decisions and the deadline
notices, with dates worked out by hand on the 2026 calendar.

March 2026 has no public holiday; 1 April 2026 is a Wednesday; 30 April and 1 May
(Thursday, Friday) are days off.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

import pytest

from chassis.calendar import DEFAULT_CALENDAR, VN_TZ
from chassis.catalogue import Agency, Procedure
from chassis.events import (
    Applicant,
    Attachment,
    DossierAssigned,
    DossierDeadlineExtended,
    DossierOverdue,
    DossierStatusChanged,
    DossierSubmitted,
)
from processing.domain.dossier import (
    ActionParams,
    AssignedElsewhere,
    ClosedDossier,
    Dossier,
    Outcome,
    UnknownDocuments,
    add_note,
    assign,
    notice_overdue,
    open_dossier,
    take_action,
)
from processing.domain.workflow import (
    Action,
    ActorRole,
    DossierStatus,
    MissingParameter,
    RoleNotPermitted,
    TransitionNotAllowed,
)

CAL = DEFAULT_CALENDAR
S = DossierStatus
OFFICER, LEADER, CITIZEN = ActorRole.OFFICER, ActorRole.LEADER, ActorRole.CITIZEN

AGENCY = Agency(
    code="STNMT-MT",
    receipt_prefix="MT",
    name_vi="Chi cục Bảo vệ môi trường",
    name_en="Environmental Protection Sub-Department",
)


def at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=VN_TZ)


def _procedure(**overrides: Any) -> Procedure:
    data: dict[str, Any] = {
        "code": "MT-T1",
        "name_vi": "Đăng ký chủ nguồn thải",
        "name_en": "Registration of a waste source owner",
        "kind": "procedure",
        "sector": "environment",
        "agency": "STNMT-MT",
        "online_level": "full",
        "processing_days": 15,
        "legal_basis": "Nghị định 08/2022/NĐ-CP",
        "required_documents": [
            {"code": "application_form", "name_vi": "Đơn", "name_en": "Form"},
            {"code": "business_registration", "name_vi": "ĐKKD", "name_en": "Registration"},
            {
                "code": "site_plan",
                "name_vi": "Sơ đồ",
                "name_en": "Site plan",
                "mandatory": False,
            },
        ],
        "form_schema": {"type": "object"},
    }
    data.update(overrides)
    return Procedure.model_validate(data)


PROCEDURE = _procedure()
COMPLAINT = _procedure(
    code="KN-T1",
    kind="complaint",
    sector="general",
    clock="calendar_days",
    processing_days=30,
    extended_processing_days=45,
    acceptance_days=10,
    acceptance_clock="calendar_days",
    remote_area_processing_days=45,
    remote_area_extended_processing_days=60,
    required_documents=[{"code": "complaint_letter", "name_vi": "Đơn", "name_en": "Letter"}],
)
DENUNCIATION = _procedure(
    code="TC-T1",
    kind="denunciation",
    sector="general",
    clock="calendar_days",
    processing_days=30,
    extended_processing_days=90,
    acceptance_days=7,
    acceptance_clock="working_days",
    extension_days=30,
    max_extensions=2,
    confidential_applicant=True,
    required_documents=[{"code": "denunciation_letter", "name_vi": "Đơn", "name_en": "Letter"}],
)


def _attachment(code: str) -> Attachment:
    return Attachment(
        document_code=code, name=f"{code}.pdf", media_type="application/pdf", size=10, sha256=code
    )


def _submitted(
    procedure_code: str = "MT-T1",
    documents: tuple[str, ...] = ("application_form", "business_registration"),
    submitted_at: datetime | None = None,
    kind: str = "procedure",
    applicant: Applicant | None = None,
    due_date: date = date(2026, 3, 23),
    content: str | None = None,
) -> DossierSubmitted:
    return DossierSubmitted(
        dossier_id="d-1",
        receipt_code="MT-2603-0001",
        procedure_code=procedure_code,
        agency="STNMT-MT",
        kind=kind,
        channel="online",
        submitted_at=submitted_at or at(date(2026, 3, 2)),
        due_date=due_date,
        applicant=applicant
        or Applicant(type="person", name="Trần Thị Bình", email="binh@example.vn", phone=None),
        form={"waste_codes": ["16 01 06"]},
        attachments=[_attachment(code) for code in documents],
        content=content,
    )


def _received(procedure: Procedure = PROCEDURE, **kwargs: Any) -> Dossier:
    return open_dossier(
        _submitted(procedure_code=procedure.code, **kwargs),
        procedure,
        AGENCY,
        at(date(2026, 3, 2)),
        CAL,
    ).dossier


def _act(
    dossier: Dossier,
    action: Action,
    when: date,
    role: ActorRole = OFFICER,
    officer_id: str | None = "officer-a",
    **params: Any,
) -> Dossier:
    return take_action(
        dossier,
        action,
        role,
        f"officer:{officer_id}",
        ActionParams(**params),
        at(when),
        CAL,
        officer_id=officer_id,
    ).dossier


# --------------------------------------------------------------------------- arrival


def test_complete_dossier_is_received_with_its_appointment() -> None:
    change = open_dossier(_submitted(), PROCEDURE, AGENCY, at(date(2026, 3, 2)), CAL)
    dossier = change.dossier
    # 15 working days after Monday 2 March: 3-6, 9-13, 16-20 make 14, the 15th is the 23rd.
    assert dossier.status is S.RECEIVED
    assert dossier.version == 1
    assert dossier.due_date == date(2026, 3, 23)
    assert dossier.received_on == date(2026, 3, 2)
    assert dossier.agency_name_en == AGENCY.name_en
    [event] = change.events
    assert isinstance(event, DossierStatusChanged)
    assert (event.old_status, event.new_status, event.action) == (
        "submitted",
        "received",
        "receive",
    )
    assert event.due_date == date(2026, 3, 23)
    assert event.version == 1
    assert event.recipient.email == "binh@example.vn"
    assert event.procedure_name_vi == PROCEDURE.name_vi


def test_missing_mandatory_documents_become_a_supplement_request() -> None:
    change = open_dossier(
        _submitted(documents=("site_plan",)), PROCEDURE, AGENCY, at(date(2026, 3, 2)), CAL
    )
    dossier = change.dossier
    assert dossier.status is S.SUPPLEMENT_REQUESTED
    assert dossier.missing_documents == ["application_form", "business_registration"]
    assert [(p.started, p.ended) for p in dossier.pauses] == [(date(2026, 3, 2), None)]
    [event] = change.events
    assert isinstance(event, DossierStatusChanged)
    assert event.action == "request_supplement"
    assert event.missing_documents == ["application_form", "business_registration"]
    assert event.due_date is None
    assert event.reason


def test_supplement_restarts_the_clock_from_a_complete_dossier() -> None:
    dossier = open_dossier(
        _submitted(documents=()), PROCEDURE, AGENCY, at(date(2026, 3, 2)), CAL
    ).dossier
    change = take_action(
        dossier,
        Action.SUPPLEMENT,
        CITIZEN,
        "portal:client",
        ActionParams(
            attachments=[_attachment("application_form"), _attachment("business_registration")]
        ),
        at(date(2026, 3, 5)),
        CAL,
    )
    after = change.dossier
    # Paused over 3, 4 and 5 March: the appointment moves three working days, to the 26th.
    assert after.status is S.SUPPLEMENTED
    assert after.due_date == date(2026, 3, 26)
    assert after.missing_documents == []
    assert [a.document_code for a in after.attachments] == [
        "application_form",
        "business_registration",
    ]
    [event] = change.events
    assert isinstance(event, DossierStatusChanged)
    assert event.due_date == date(2026, 3, 26)
    assert {(c.field, c.old, c.new) for c in event.changes} == {
        ("status", "supplement_requested", "supplemented"),
        ("due_date", "2026-03-23", "2026-03-26"),
    }


def test_officer_supplement_request_pauses_over_a_weekend_and_holidays() -> None:
    dossier = _act(_received(), Action.START_REVIEW, date(2026, 3, 3))
    paused = _act(
        dossier,
        Action.REQUEST_SUPPLEMENT,
        date(2026, 4, 28),
        reason="Bản sao ĐKKD không rõ",
        missing_documents=["business_registration"],
    )
    assert paused.status is S.SUPPLEMENT_REQUESTED
    assert paused.due_date == date(2026, 3, 23)
    back = take_action(
        paused,
        Action.SUPPLEMENT,
        CITIZEN,
        "portal:client",
        ActionParams(),
        at(date(2026, 5, 4)),
        CAL,
    ).dossier
    # (28 April, 4 May] holds 29 April and 4 May as working days: 30 April, 1 May and the
    # weekend do not count, so the appointment moves two working days: 23 -> 25 March.
    assert back.due_date == date(2026, 3, 25)
    assert [(p.started, p.ended) for p in back.pauses] == [(date(2026, 4, 28), date(2026, 5, 4))]


def test_unknown_supplement_documents_are_refused() -> None:
    dossier = _act(_received(), Action.START_REVIEW, date(2026, 3, 3))
    with pytest.raises(UnknownDocuments) as caught:
        _act(
            dossier,
            Action.REQUEST_SUPPLEMENT,
            date(2026, 3, 4),
            reason="x",
            missing_documents=["site_plan", "birth_certificate"],
        )
    assert caught.value.codes == ["birth_certificate"]


def test_procedure_missing_from_the_catalogue_is_received_on_intakes_date() -> None:
    change = open_dossier(
        _submitted(procedure_code="XX-9", documents=(), due_date=date(2026, 3, 16)),
        None,
        None,
        at(date(2026, 3, 2)),
        CAL,
    )
    dossier = change.dossier
    assert dossier.status is S.RECEIVED
    assert not dossier.catalogued
    assert dossier.due_date == date(2026, 3, 16)
    assert dossier.policy.processing_days == 10
    assert (dossier.procedure_name_vi, dossier.agency, dossier.agency_name_vi) == (
        "XX-9",
        "STNMT-MT",
        "STNMT-MT",
    )


def test_denunciation_keeps_only_the_pseudonym_and_waits_for_acceptance() -> None:
    pseudonymous = Applicant(type="person", pseudonym="den-7f3a", portal_account=None)
    change = open_dossier(
        _submitted(
            procedure_code="TC-T1",
            documents=("denunciation_letter",),
            kind="denunciation",
            applicant=pseudonymous,
            content="Xả thải trái phép ra sông",
        ),
        DENUNCIATION,
        AGENCY,
        at(date(2026, 3, 2)),
        CAL,
    )
    dossier = change.dossier
    # Accepted or not within 7 working days of Monday 2 March: by Wednesday 11 March.
    assert dossier.status is S.AWAITING_ACCEPTANCE
    assert dossier.acceptance_due_date == dossier.due_date == date(2026, 3, 11)
    assert dossier.applicant_pseudonym == "den-7f3a"
    assert dossier.content == "Xả thải trái phép ra sông"
    assert dossier.recipient.display_name is None
    assert dossier.recipient.phone is None
    [event] = change.events
    assert event.recipient.display_name is None  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- actions


def test_decision_on_or_before_the_due_date_is_on_time() -> None:
    dossier = _act(_received(), Action.START_REVIEW, date(2026, 3, 3))
    change = take_action(
        dossier,
        Action.APPROVE,
        OFFICER,
        "officer:officer-a",
        ActionParams(result_reference="GP-12/2026"),
        at(date(2026, 3, 23), 16),
        CAL,
        officer_id="officer-a",
    )
    approved = change.dossier
    assert approved.status is S.APPROVED
    assert approved.outcome is Outcome.ON_TIME
    assert approved.working_days_taken == 15
    assert approved.result_reference == "GP-12/2026"
    assert approved.version == 3
    [event] = change.events
    assert isinstance(event, DossierStatusChanged)
    assert event.result_reference == "GP-12/2026"
    assert event.version == 3


def test_decision_after_the_due_date_is_late_and_pauses_do_not_count_as_work() -> None:
    dossier = _act(
        _received(),
        Action.REQUEST_SUPPLEMENT,
        date(2026, 3, 4),
        reason="thiếu",
        missing_documents=["site_plan"],
    )
    dossier = take_action(
        dossier, Action.SUPPLEMENT, CITIZEN, "portal:c", ActionParams(), at(date(2026, 3, 6)), CAL
    ).dossier
    assert dossier.due_date == date(2026, 3, 25)
    dossier = _act(dossier, Action.START_REVIEW, date(2026, 3, 9))
    rejected = _act(dossier, Action.REJECT, date(2026, 3, 26), reason="Không đủ điều kiện")
    assert rejected.outcome is Outcome.LATE
    # (2 March, 26 March] holds 18 working days, 2 of them (5 and 6 March) paused.
    assert rejected.working_days_taken == 16


def test_an_officer_cannot_act_on_a_colleagues_dossier_but_a_leader_can() -> None:
    dossier = assign(_received(), "officer-a", "officer:officer-a", at(date(2026, 3, 3))).dossier
    with pytest.raises(AssignedElsewhere):
        _act(dossier, Action.START_REVIEW, date(2026, 3, 3), officer_id="officer-b")
    by_leader = _act(dossier, Action.START_REVIEW, date(2026, 3, 3), LEADER, officer_id="lead")
    assert by_leader.status is S.IN_REVIEW
    assert by_leader.assignee == "officer-a"


def test_assignment_bumps_the_version_and_names_both_officers() -> None:
    change = assign(_received(), "officer-b", "officer:lead-1", at(date(2026, 3, 3)))
    assert change.dossier.assignee == "officer-b"
    assert change.dossier.version == 2
    [event] = change.events
    assert isinstance(event, DossierAssigned)
    assert (event.officer_id, event.assigned_by) == ("officer-b", "officer:lead-1")


def test_closed_dossier_cannot_be_assigned() -> None:
    withdrawn = take_action(
        _received(), Action.WITHDRAW, CITIZEN, "portal:c", ActionParams(), at(date(2026, 3, 3)), CAL
    ).dossier
    assert withdrawn.outcome is Outcome.WITHDRAWN
    with pytest.raises(ClosedDossier):
        assign(withdrawn, "officer-a", "officer:officer-a", at(date(2026, 3, 3)))


def test_workflow_refusals_reach_the_caller() -> None:
    received = _received()
    with pytest.raises(TransitionNotAllowed) as caught:
        _act(received, Action.APPROVE, date(2026, 3, 3), result_reference="x")
    assert caught.value.allowed == [
        Action.REQUEST_SUPPLEMENT,
        Action.START_REVIEW,
        Action.PROPOSE_APOLOGY,
    ]
    with pytest.raises(RoleNotPermitted):
        _act(received, Action.WITHDRAW, date(2026, 3, 3))
    in_review = _act(received, Action.START_REVIEW, date(2026, 3, 3))
    with pytest.raises(MissingParameter) as missing:
        _act(in_review, Action.REJECT, date(2026, 3, 4))
    assert missing.value.missing == ["reason"]


def test_complaint_deadline_extends_once() -> None:
    waiting = _received(COMPLAINT, documents=("complaint_letter",))
    dossier = _act(waiting, Action.ACCEPT, date(2026, 3, 2))
    # 30 calendar days from acceptance on Monday 2 March: Wednesday 1 April.
    assert dossier.due_date == date(2026, 4, 1)
    change = take_action(
        dossier,
        Action.EXTEND_DEADLINE,
        LEADER,
        "officer:lead-1",
        ActionParams(reason="Vụ việc phức tạp"),
        at(date(2026, 3, 20)),
        CAL,
    )
    extended = change.dossier
    # 45 calendar days from 2 March: 16 April.
    assert extended.due_date == date(2026, 4, 16)
    assert extended.deadline_extended
    assert extended.complex_case
    assert extended.status is S.IN_REVIEW
    [event] = change.events
    assert isinstance(event, DossierDeadlineExtended)
    assert (event.old_due_date, event.new_due_date) == (date(2026, 4, 1), date(2026, 4, 16))
    with pytest.raises(TransitionNotAllowed):
        take_action(
            extended,
            Action.EXTEND_DEADLINE,
            LEADER,
            "officer:lead-1",
            ActionParams(reason="again"),
            at(date(2026, 3, 21)),
            CAL,
        )


def test_a_note_is_an_event_and_not_a_change() -> None:
    dossier = _received()
    note = add_note(dossier, "n-1", "officer-a", "Gọi điện xác minh", at(date(2026, 3, 3)))
    assert (note.note_id, note.officer_id, note.dossier_id) == ("n-1", "officer-a", "d-1")


# --------------------------------------------------------------------------- deadlines


def test_overdue_is_noticed_once_and_only_while_the_clock_runs() -> None:
    dossier = _received()
    assert notice_overdue(dossier, at(date(2026, 3, 23)), CAL) is None
    event = notice_overdue(dossier, at(date(2026, 3, 24)), CAL)
    assert isinstance(event, DossierOverdue)
    assert event.due_date == date(2026, 3, 23)
    flagged = dossier.model_copy(update={"overdue_at": at(date(2026, 3, 24))})
    assert notice_overdue(flagged, at(date(2026, 3, 25)), CAL) is None
    paused = _act(
        dossier, Action.REQUEST_SUPPLEMENT, date(2026, 3, 10), reason="thiếu", missing_items=["x"]
    )
    assert notice_overdue(paused, at(date(2026, 3, 30)), CAL) is None
    decided = _act(
        _act(dossier, Action.START_REVIEW, date(2026, 3, 3)),
        Action.REJECT,
        date(2026, 3, 4),
        reason="x",
    )
    assert notice_overdue(decided, at(date(2026, 3, 30)), CAL) is None
