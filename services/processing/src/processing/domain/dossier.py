"""A dossier as processing keeps it, and the pure rules that change it.

Every operation here takes the dossier as it was read and returns a `Change`: the
dossier as it must be written and the events that write must carry. Nothing here
touches the store or the broker; `processing.service` writes a change in one atomic
single-document update together with its events (the outbox), so a state change and
the events it emits can never diverge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chassis.calendar import WorkingCalendar
from chassis.catalogue import Agency, Procedure
from chassis.events import (
    Attachment,
    DossierApologyIssued,
    DossierAssigned,
    DossierDeadlineExtended,
    DossierKind,
    DossierNoteAdded,
    DossierOverdue,
    DossierStatusChanged,
    DossierSubmitted,
    EventData,
    FieldChange,
    Recipient,
)
from processing.domain.deadlines import (
    Pause,
    apology_due,
    compute_due_date,
    counting_starts_on,
    new_appointment,
    resolved_on_time,
    working_days_taken,
)
from processing.domain.workflow import (
    CLOCK_PAUSED_STATUSES,
    Action,
    ActorRole,
    DossierStatus,
    WorkflowError,
    WorkflowPolicy,
    apply,
    check_required_documents,
    is_terminal,
)

__all__ = [
    "APOLOGY_KINDS",
    "DECIDED_STATUSES",
    "OPEN_STATUSES",
    "RUNNING_STATUSES",
    "SCAN_FIELDS",
    "SYSTEM_ACTOR",
    "ActionParams",
    "Apology",
    "AssignedElsewhere",
    "Change",
    "ClosedDossier",
    "Dossier",
    "HistoryEntry",
    "Outcome",
    "PauseRecord",
    "PolicyRecord",
    "UnknownDocuments",
    "add_note",
    "assign",
    "issue_apology",
    "notice_overdue",
    "open_dossier",
    "take_action",
]

S = DossierStatus

# The department has decided these; only the handing over of the result is left.
DECIDED_STATUSES: frozenset[DossierStatus] = frozenset({S.APPROVED, S.REJECTED})

# Still being settled: the statutory clock matters for these.
OPEN_STATUSES: frozenset[DossierStatus] = frozenset(
    {S.SUBMITTED, S.RECEIVED, S.IN_REVIEW, S.SUPPLEMENT_REQUESTED, S.SUPPLEMENTED}
    | {S.AWAITING_APPROVAL}
)

# Open, and the clock is running: these can become overdue.
RUNNING_STATUSES: frozenset[DossierStatus] = OPEN_STATUSES - CLOCK_PAUSED_STATUSES

# The apology slip with a new appointment is the remedy Decree 61/2018 gives for late
# administrative procedures; complaints and denunciations have the statutory extension
# instead, so they never get the slip.
APOLOGY_KINDS: frozenset[DossierKind] = frozenset({DossierKind.PROCEDURE, DossierKind.PETITION})

SYSTEM_ACTOR = "system:processing"

AUTOMATIC_CHECK_REASON = "Hồ sơ thiếu thành phần bắt buộc theo quy định của thủ tục"
APOLOGY_REASON = "Hồ sơ chưa được giải quyết kịp thời hạn đã hẹn"


class Outcome(StrEnum):
    """How a dossier counts in the public statistics."""

    IN_PROGRESS = "in_progress"
    ON_TIME = "on_time"
    LATE = "late"
    WITHDRAWN = "withdrawn"


class PolicyRecord(BaseModel):
    """The procedure's workflow policy as it stood when the dossier arrived.

    Kept with the dossier so that a catalogue change never rewrites the rules of a
    case already under way.
    """

    model_config = ConfigDict(extra="ignore")

    extra_approval: bool
    clock: str
    processing_days: int
    extended_processing_days: int | None
    kind: str

    @classmethod
    def of(cls, policy: WorkflowPolicy) -> PolicyRecord:
        return cls(
            extra_approval=policy.extra_approval,
            clock=policy.clock,
            processing_days=policy.processing_days,
            extended_processing_days=policy.extended_processing_days,
            kind=policy.kind,
        )

    def policy(self) -> WorkflowPolicy:
        return WorkflowPolicy(
            extra_approval=self.extra_approval,
            clock=self.clock,
            processing_days=self.processing_days,
            extended_processing_days=self.extended_processing_days,
            kind=self.kind,
        )


class PauseRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    started: date
    ended: date | None = None

    def pause(self) -> Pause:
        return Pause(self.started, self.ended)


class HistoryEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    action: str
    from_status: str | None
    to_status: str
    actor: str
    at: datetime
    reason: str | None = None


class Apology(BaseModel):
    model_config = ConfigDict(extra="ignore")

    old_due_date: date
    new_due_date: date
    issued_at: datetime


class Dossier(BaseModel):
    """The processing service's record of one dossier."""

    # The store adds its own fields (outbox, applied event ids, notes) beside these.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(alias="_id")
    receipt_code: str
    procedure_code: str
    procedure_name_vi: str
    procedure_name_en: str
    agency: str
    agency_name_vi: str
    agency_name_en: str
    kind: DossierKind
    channel: str
    catalogued: bool
    policy: PolicyRecord
    document_codes: list[str] = Field(default_factory=list)
    status: DossierStatus
    version: int
    submitted_at: datetime
    received_on: date
    due_date: date
    pauses: list[PauseRecord] = Field(default_factory=list)
    deadline_extended: bool = False
    assignee: str | None = None
    recipient: Recipient
    applicant_pseudonym: str | None = None
    form: dict[str, Any] = Field(default_factory=dict)
    # A petitioner's, complainant's or denouncer's own account of the matter.
    content: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    missing_documents: list[str] = Field(default_factory=list)
    result_reference: str | None = None
    decided_at: datetime | None = None
    outcome: Outcome = Outcome.IN_PROGRESS
    working_days_taken: int | None = None
    history: list[HistoryEntry] = Field(default_factory=list)
    # Written only by the deadline scan, never by a command (see SCAN_FIELDS).
    overdue_at: datetime | None = None
    apology: Apology | None = None

    @property
    def workflow_policy(self) -> WorkflowPolicy:
        return self.policy.policy()

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def clock_running(self) -> bool:
        return self.status in RUNNING_STATUSES

    @property
    def appointment_date(self) -> date:
        """The date the applicant was last promised: the apology slip may have moved it
        beyond the statutory due date, which still decides lateness."""
        if self.apology is not None and self.apology.new_due_date > self.due_date:
            return self.apology.new_due_date
        return self.due_date

    def overdue_on(self, today: date) -> bool:
        return self.clock_running and today > self.due_date

    def closed_pauses(self) -> list[Pause]:
        return [p.pause() for p in self.pauses if p.ended is not None]


# Fields the deadline scan owns. A command rewrites every other field under the version
# check, and leaves these alone so that a scan running beside it is never undone.
SCAN_FIELDS: frozenset[str] = frozenset({"overdue_at", "apology"})


@dataclass(frozen=True)
class Change:
    """A dossier as it must be written, and the events written with it."""

    dossier: Dossier
    events: list[EventData] = field(default_factory=list)


@dataclass(frozen=True)
class ActionParams:
    """What an actor sends with an action; which fields are needed depends on it."""

    reason: str | None = None
    result_reference: str | None = None
    missing_documents: Sequence[str] = ()
    attachments: Sequence[Attachment] = ()

    def as_mapping(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "result_reference": self.result_reference,
            "missing_documents": list(self.missing_documents),
        }


class AssignedElsewhere(WorkflowError):
    """An officer acts on a dossier another officer has taken; a leader may, they may not."""

    def __init__(self, assignee: str) -> None:
        self.assignee = assignee
        super().__init__("the dossier is assigned to another officer")


class UnknownDocuments(WorkflowError):
    """A supplement request names documents the procedure does not have."""

    def __init__(self, codes: list[str]) -> None:
        self.codes = codes
        super().__init__(f"the procedure has no documents {', '.join(codes)}")


class ClosedDossier(WorkflowError):
    """Nothing can be assigned on a dossier whose result was returned or that was withdrawn."""

    def __init__(self, status: DossierStatus) -> None:
        self.status = status
        super().__init__(f"the dossier is {status} and needs no officer any more")


# --------------------------------------------------------------------------- arrival


def open_dossier(
    submitted: DossierSubmitted,
    procedure: Procedure | None,
    agency: Agency | None,
    now: datetime,
    calendar: WorkingCalendar,
) -> Change:
    """A dossier as it arrives from intake, after the automatic check of its documents.

    The procedure's catalogue entry decides the policy, the handling agency and the
    documents to look for. A procedure missing from this service's catalogue (a
    catalogue rolled out to intake first) is still received, without a document check
    and on intake's appointment date, rather than leaving a citizen's dossier unread.
    """
    received_at = submitted.submitted_at
    starts_on = counting_starts_on(received_at, calendar)
    if procedure is not None:
        policy = WorkflowPolicy.from_procedure(procedure)
        required = [(d.code, d.mandatory) for d in procedure.required_documents]
        missing = check_required_documents(
            required, (a.document_code for a in submitted.attachments)
        )
        document_codes = [d.code for d in procedure.required_documents]
        names = (procedure.name_vi, procedure.name_en)
        agency_code = procedure.agency
    else:
        # Intake's appointment date is the only time limit known for such a dossier.
        days = calendar.working_days_between(starts_on, submitted.due_date)
        policy = WorkflowPolicy(
            extra_approval=False,
            clock="working_days",
            processing_days=days,
            extended_processing_days=None,
            kind=submitted.kind.value,
        )
        missing = []
        document_codes = []
        names = (submitted.procedure_code, submitted.procedure_code)
        agency_code = submitted.agency
    agency_names = (agency.name_vi, agency.name_en) if agency else (agency_code, agency_code)

    if missing:
        action = Action.REQUEST_SUPPLEMENT
        params = ActionParams(reason=AUTOMATIC_CHECK_REASON, missing_documents=missing)
        # The clock starts only once the dossier is complete: the pause runs from the day
        # it would have started.
        pauses = [PauseRecord(started=starts_on)]
    else:
        action, params, pauses = Action.RECEIVE, ActionParams(), []
    status = apply(S.SUBMITTED, action, ActorRole.SYSTEM, policy, params.as_mapping())

    applicant = submitted.applicant
    dossier = Dossier(
        id=submitted.dossier_id,
        receipt_code=submitted.receipt_code,
        procedure_code=submitted.procedure_code,
        procedure_name_vi=names[0],
        procedure_name_en=names[1],
        agency=agency_code,
        agency_name_vi=agency_names[0],
        agency_name_en=agency_names[1],
        # The catalogue knows what a procedure is; intake's label is only a fallback.
        kind=DossierKind(policy.kind),
        channel=submitted.channel.value,
        catalogued=procedure is not None,
        policy=PolicyRecord.of(policy),
        document_codes=document_codes,
        status=status,
        version=1,
        submitted_at=received_at,
        received_on=calendar.local_date(received_at),
        due_date=compute_due_date(received_at, policy, [], calendar=calendar),
        pauses=pauses,
        recipient=Recipient(
            display_name=applicant.name,
            email=applicant.email,
            phone=applicant.phone,
            language=applicant.language,
            sms_opt_out=applicant.sms_opt_out,
            portal_account=applicant.portal_account,
        ),
        # Intake has already replaced a denouncer's identity with this pseudonym; it is
        # kept as an opaque reference and never resolved here.
        applicant_pseudonym=applicant.pseudonym,
        form=submitted.form,
        content=submitted.content,
        attachments=list(submitted.attachments),
        missing_documents=list(params.missing_documents),
        history=[
            HistoryEntry(
                action=action.value,
                from_status=S.SUBMITTED.value,
                to_status=status.value,
                actor=SYSTEM_ACTOR,
                at=now,
                reason=params.reason,
            )
        ],
    )
    changes = [FieldChange(field="status", old=S.SUBMITTED.value, new=status.value)]
    event = _status_changed(dossier, S.SUBMITTED, action, params, now, changes)
    return Change(dossier, [event])


# --------------------------------------------------------------------------- actions


def take_action(
    dossier: Dossier,
    action: Action,
    role: ActorRole,
    actor: str,
    params: ActionParams,
    now: datetime,
    calendar: WorkingCalendar,
    officer_id: str | None = None,
) -> Change:
    """Take one workflow action; raises a `WorkflowError` when it is not allowed.

    ``officer_id`` identifies the officer acting, so that an officer cannot act on a
    dossier another officer has taken.
    """
    policy = dossier.workflow_policy
    new_status = apply(
        dossier.status, action, role, policy, params.as_mapping(), dossier.deadline_extended
    )
    if (
        role is ActorRole.OFFICER
        and dossier.assignee is not None
        and dossier.assignee != officer_id
    ):
        raise AssignedElsewhere(dossier.assignee)
    if action is Action.REQUEST_SUPPLEMENT and dossier.catalogued:
        unknown = [c for c in params.missing_documents if c not in dossier.document_codes]
        if unknown:
            raise UnknownDocuments(unknown)

    today = calendar.local_date(now)
    updates: dict[str, Any] = {"status": new_status, "version": dossier.version + 1}
    changes: list[FieldChange] = []
    if new_status is not dossier.status:
        changes.append(FieldChange(field="status", old=dossier.status.value, new=new_status.value))

    if action is Action.REQUEST_SUPPLEMENT:
        updates["pauses"] = [*dossier.pauses, PauseRecord(started=today)]
        updates["missing_documents"] = list(params.missing_documents)
    elif action is Action.SUPPLEMENT:
        pauses = _close_pauses(dossier.pauses, today)
        updates["pauses"] = pauses
        updates["missing_documents"] = []
        updates["attachments"] = _merge_attachments(dossier.attachments, params.attachments)
        updates["due_date"] = _due_date(dossier, pauses, dossier.deadline_extended, calendar)
    elif action is Action.EXTEND_DEADLINE:
        updates["deadline_extended"] = True
        updates["due_date"] = _due_date(dossier, dossier.pauses, True, calendar)
    elif action in (Action.APPROVE, Action.REJECT):
        updates |= _decision(dossier, now, calendar)
        if params.result_reference:
            updates["result_reference"] = params.result_reference
            changes.append(
                FieldChange(field="result_reference", old=None, new=params.result_reference)
            )
    elif action is Action.WITHDRAW:
        updates["pauses"] = _close_pauses(dossier.pauses, today)
        updates["outcome"] = Outcome.WITHDRAWN
    if "due_date" in updates and updates["due_date"] != dossier.due_date:
        changes.append(
            FieldChange(
                field="due_date",
                old=dossier.due_date.isoformat(),
                new=updates["due_date"].isoformat(),
            )
        )
    entry = HistoryEntry(
        action=action.value,
        from_status=dossier.status.value,
        to_status=new_status.value,
        actor=actor,
        at=now,
        reason=params.reason,
    )
    updates["history"] = [*dossier.history, entry]
    after = dossier.model_copy(update=updates)

    if action is Action.EXTEND_DEADLINE:
        assert params.reason is not None
        event: EventData = DossierDeadlineExtended(
            **_ref(after),
            old_due_date=dossier.due_date,
            new_due_date=after.due_date,
            reason=params.reason,
            occurred_at=now,
            changes=changes,
        )
    else:
        event = _status_changed(after, dossier.status, action, params, now, changes)
    return Change(after, [event])


def assign(dossier: Dossier, officer_id: str, assigned_by: str, now: datetime) -> Change:
    """Put the dossier in ``officer_id``'s hands (a claim when they assign themselves)."""
    if is_terminal(dossier.status):
        raise ClosedDossier(dossier.status)
    after = dossier.model_copy(update={"assignee": officer_id, "version": dossier.version + 1})
    event = DossierAssigned(
        **_ref(after),
        officer_id=officer_id,
        assigned_by=assigned_by,
        occurred_at=now,
        changes=[FieldChange(field="assignee", old=dossier.assignee, new=officer_id)],
    )
    return Change(after, [event])


def add_note(
    dossier: Dossier, note_id: str, officer_id: str, text: str, now: datetime
) -> DossierNoteAdded:
    """An internal note; it changes nothing in the workflow and reaches no citizen."""
    return DossierNoteAdded(
        **_ref(dossier), note_id=note_id, officer_id=officer_id, text=text, occurred_at=now
    )


# --------------------------------------------------------------------------- deadlines


def notice_overdue(
    dossier: Dossier, now: datetime, calendar: WorkingCalendar
) -> DossierOverdue | None:
    """The overdue event for a dossier past its due date, unless it was already sent."""
    if dossier.overdue_at is not None or not dossier.overdue_on(calendar.local_date(now)):
        return None
    return DossierOverdue(
        **_ref(dossier), due_date=dossier.due_date, detected_at=now, recipient=dossier.recipient
    )


def issue_apology(
    dossier: Dossier,
    now: datetime,
    calendar: WorkingCalendar,
    warning_working_days: int,
    extra_working_days: int,
) -> tuple[Apology, DossierApologyIssued] | None:
    """The apology slip with a new appointment, for a dossier about to be late.

    At most one per dossier. The new date counts from the due date, or from today for a
    dossier already past it, so the slip never promises a day that is gone.
    """
    today = calendar.local_date(now)
    if (
        dossier.apology is not None
        or dossier.kind not in APOLOGY_KINDS
        or not dossier.clock_running
        or not apology_due(dossier.due_date, today, calendar, warning_working_days)
    ):
        return None
    new_date = new_appointment(max(dossier.due_date, today), calendar, extra_working_days)
    apology = Apology(old_due_date=dossier.due_date, new_due_date=new_date, issued_at=now)
    event = DossierApologyIssued(
        **_ref(dossier),
        old_due_date=dossier.due_date,
        new_due_date=new_date,
        reason=APOLOGY_REASON,
        issued_at=now,
        recipient=dossier.recipient,
        changes=[
            FieldChange(
                field="appointment_date",
                old=dossier.appointment_date.isoformat(),
                new=new_date.isoformat(),
            )
        ],
    )
    return apology, event


# --------------------------------------------------------------------------- helpers


def _ref(dossier: Dossier) -> dict[str, Any]:
    return {
        "dossier_id": dossier.id,
        "receipt_code": dossier.receipt_code,
        "procedure_code": dossier.procedure_code,
        "procedure_name_vi": dossier.procedure_name_vi,
        "procedure_name_en": dossier.procedure_name_en,
        "agency": dossier.agency,
        "agency_name_vi": dossier.agency_name_vi,
        "agency_name_en": dossier.agency_name_en,
        "kind": dossier.kind,
    }


def _status_changed(
    after: Dossier,
    old_status: DossierStatus,
    action: Action,
    params: ActionParams,
    now: datetime,
    changes: list[FieldChange],
) -> DossierStatusChanged:
    return DossierStatusChanged(
        **_ref(after),
        old_status=old_status.value,
        new_status=after.status.value,
        action=action.value,
        reason=params.reason,
        missing_documents=list(params.missing_documents) or None,
        # While the applicant owes documents there is no appointment to announce.
        due_date=None if after.status in CLOCK_PAUSED_STATUSES else after.appointment_date,
        result_reference=params.result_reference,
        occurred_at=now,
        version=after.version,
        recipient=after.recipient,
        changes=changes,
    )


def _close_pauses(pauses: list[PauseRecord], today: date) -> list[PauseRecord]:
    # A supplement arriving before the clock would have started (an evening submission
    # completed the same night) paused nothing.
    return [
        p if p.ended is not None else PauseRecord(started=p.started, ended=max(today, p.started))
        for p in pauses
    ]


def _due_date(
    dossier: Dossier, pauses: list[PauseRecord], extended: bool, calendar: WorkingCalendar
) -> date:
    closed = [p.pause() for p in pauses if p.ended is not None]
    return compute_due_date(
        dossier.submitted_at, dossier.workflow_policy, closed, extended, calendar
    )


def _decision(dossier: Dossier, now: datetime, calendar: WorkingCalendar) -> dict[str, Any]:
    decided_on = calendar.local_date(now)
    on_time = resolved_on_time(dossier.due_date, decided_on)
    return {
        "decided_at": now,
        "outcome": Outcome.ON_TIME if on_time else Outcome.LATE,
        "working_days_taken": working_days_taken(
            dossier.submitted_at, now, dossier.closed_pauses(), calendar
        ),
    }


def _merge_attachments(current: list[Attachment], added: Sequence[Attachment]) -> list[Attachment]:
    known = {(a.document_code, a.sha256) for a in current}
    merged = list(current)
    for attachment in added:
        if (attachment.document_code, attachment.sha256) not in known:
            merged.append(attachment)
            known.add((attachment.document_code, attachment.sha256))
    return merged
