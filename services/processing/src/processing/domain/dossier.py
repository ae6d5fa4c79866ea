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
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chassis.calendar import WorkingCalendar
from chassis.catalogue import Agency, Procedure
from chassis.events import (
    Attachment,
    Decision,
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
    compute_due_date,
    counting_starts_on,
    due_after,
    resolved_on_time,
    time_limit,
    working_days_taken,
)
from processing.domain.workflow import (
    CLOCK_PAUSED_STATUSES,
    DECISION_KINDS,
    Action,
    ActorRole,
    DossierStatus,
    MissingParameter,
    Progress,
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
    "ApologyProposal",
    "AssignedElsewhere",
    "Change",
    "ClosedDossier",
    "Dossier",
    "Extension",
    "HistoryEntry",
    "InvalidAcceptance",
    "InvalidApology",
    "InvalidExtension",
    "Outcome",
    "OwnApology",
    "PauseRecord",
    "PolicyRecord",
    "SupplementAlreadyRequested",
    "UnknownDocuments",
    "add_note",
    "assign",
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
    | {S.AWAITING_APPROVAL, S.AWAITING_ACCEPTANCE}
)

# Open, and the clock is running: these can become overdue.
RUNNING_STATUSES: frozenset[DossierStatus] = OPEN_STATUSES - CLOCK_PAUSED_STATUSES

# The apology slip with a new appointment is the remedy Decree 61/2018 gives for late
# administrative procedures; complaints and denunciations have the statutory extension
# instead, so they never get the slip (see `workflow.APOLOGY_KINDS`).
APOLOGY_KINDS: frozenset[DossierKind] = frozenset({DossierKind.PROCEDURE, DossierKind.PETITION})

SYSTEM_ACTOR = "system:processing"

# A new appointment beyond a year is no appointment: the slip promises a date the
# applicant can plan for.
NEW_APPOINTMENT_MAX_DAYS = 366

AUTOMATIC_CHECK_REASON = "Hồ sơ thiếu thành phần bắt buộc theo quy định của thủ tục"


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
    # Recorded from the catalogue since acceptance and extensions by days came in; a
    # dossier stored before keeps the defaults, which are the rules it arrived under.
    acceptance_days: int | None = None
    acceptance_clock: str = "working_days"
    remote_area_processing_days: int | None = None
    remote_area_extended_processing_days: int | None = None
    extension_days: int | None = None
    max_extensions: int = 0

    @classmethod
    def of(cls, policy: WorkflowPolicy) -> PolicyRecord:
        return cls(
            extra_approval=policy.extra_approval,
            clock=policy.clock,
            processing_days=policy.processing_days,
            extended_processing_days=policy.extended_processing_days,
            kind=policy.kind,
            acceptance_days=policy.acceptance_days,
            acceptance_clock=policy.acceptance_clock,
            remote_area_processing_days=policy.remote_area_processing_days,
            remote_area_extended_processing_days=policy.remote_area_extended_processing_days,
            extension_days=policy.extension_days,
            max_extensions=policy.max_extensions,
        )

    def policy(self) -> WorkflowPolicy:
        return WorkflowPolicy(
            extra_approval=self.extra_approval,
            clock=self.clock,
            processing_days=self.processing_days,
            extended_processing_days=self.extended_processing_days,
            kind=self.kind,
            acceptance_days=self.acceptance_days,
            acceptance_clock=self.acceptance_clock,
            remote_area_processing_days=self.remote_area_processing_days,
            remote_area_extended_processing_days=self.remote_area_extended_processing_days,
            extension_days=self.extension_days,
            max_extensions=self.max_extensions,
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
    """A signed apology slip: the new appointment the applicant was promised."""

    model_config = ConfigDict(extra="ignore")

    old_due_date: date
    new_due_date: date
    issued_at: datetime
    text: str | None = None
    proposed_by: str | None = None
    signed_by: str | None = None


class ApologyProposal(BaseModel):
    """An apology slip drafted by the responsible unit's officer, waiting for its leader."""

    model_config = ConfigDict(extra="ignore")

    new_due_date: date
    text: str
    proposed_by: str
    proposed_at: datetime


class Extension(BaseModel):
    """One extension of a complaint's or denunciation's time limit."""

    model_config = ConfigDict(extra="ignore")

    days: int
    reason: str
    particularly_complex: bool = False
    by: str
    at: datetime


class IssuedResult(BaseModel):
    """The signed result document intake issued for the approval (dossier.result-issued)."""

    model_config = ConfigDict(extra="ignore")

    document_id: str
    sha256: str
    decision_number: str
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
    extensions: list[Extension] = Field(default_factory=list)
    # Complaints and denunciations: the acceptance (thụ lý) and what it decided.
    acceptance_due_date: date | None = None
    accepted_at: datetime | None = None
    complex_case: bool = False
    remote_area: bool = False
    assignee: str | None = None
    recipient: Recipient
    applicant_pseudonym: str | None = None
    form: dict[str, Any] = Field(default_factory=dict)
    # A petitioner's, complainant's or denouncer's own account of the matter.
    content: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    missing_documents: list[str] = Field(default_factory=list)
    missing_items: list[str] = Field(default_factory=list)
    result_reference: str | None = None
    # The signed result document of an approval, once intake issued it; an approved
    # dossier's result is handed over only then.
    result_document: IssuedResult | None = None
    # A complaint's or denunciation's written answer.
    decision: Decision | None = None
    decided_at: datetime | None = None
    outcome: Outcome = Outcome.IN_PROGRESS
    working_days_taken: int | None = None
    history: list[HistoryEntry] = Field(default_factory=list)
    # Written only by the deadline scan, never by a command (see SCAN_FIELDS).
    overdue_at: datetime | None = None
    apology: Apology | None = None
    apology_proposal: ApologyProposal | None = None
    # Keyed hashes of the applicant's phone number and ID number, so officers can find
    # the dossier by them; the numbers themselves are not kept for the search.
    applicant_lookup: list[str] = Field(default_factory=list)

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

    @property
    def supplement_requests(self) -> int:
        return sum(1 for h in self.history if h.action == Action.REQUEST_SUPPLEMENT.value)

    @property
    def extensions_used(self) -> int:
        if self.workflow_policy.extends_by_days:
            return len(self.extensions)
        # A complaint has one step up, to the complex case's limit, whether it was taken
        # at acceptance or later.
        return 1 if (self.deadline_extended or self.complex_case) else 0

    @property
    def progress(self) -> Progress:
        return Progress(
            extensions=self.extensions_used,
            supplement_requests=self.supplement_requests,
            apology_proposed=self.apology_proposal is not None,
            accepted=self.accepted_at is not None,
        )

    def time_limit_days(self) -> int:
        """The dossier's time limit as it stands: the one chosen at acceptance, with
        the extensions granted since."""
        policy = self.workflow_policy
        if policy.extends_by_days:
            return time_limit(policy, remote_area=self.remote_area) + sum(
                e.days for e in self.extensions
            )
        return time_limit(policy, self.complex_case or self.deadline_extended, self.remote_area)


# Fields the deadline scan owns. A command rewrites every other field under the version
# check, and leaves these alone so that a scan running beside it is never undone.
SCAN_FIELDS: frozenset[str] = frozenset({"overdue_at"})


@dataclass(frozen=True)
class Change:
    """A dossier as it must be written, and the events written with it.

    ``clear_overdue``: the due date starts afresh (a case accepted after its acceptance
    time ran out), so the deadline scan's overdue mark is cleared with the write."""

    dossier: Dossier
    events: list[EventData] = field(default_factory=list)
    clear_overdue: bool = False


@dataclass(frozen=True)
class ActionParams:
    """What an actor sends with an action; which fields are needed depends on it."""

    reason: str | None = None
    result_reference: str | None = None
    missing_documents: Sequence[str] = ()
    # Whatever else is missing, in words: every item the applicant must bring is listed
    # in the one request.
    missing_items: Sequence[str] = ()
    attachments: Sequence[Attachment] = ()
    decision: Decision | None = None
    # Accepting a complaint.
    complex_case: bool = False
    remote_area: bool = False
    # Extending a denunciation: how many days (at most the catalogue's), and whether the
    # case is particularly complex (needed for the second extension).
    extension_days: int | None = None
    particularly_complex: bool = False
    # The apology slip.
    new_due_date: date | None = None
    apology_text: str | None = None

    def as_mapping(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "result_reference": self.result_reference,
            "missing_documents": list(self.missing_documents),
            "decision": self.decision,
            "new_due_date": self.new_due_date,
            "apology_text": self.apology_text,
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


class SupplementAlreadyRequested(WorkflowError):
    """A supplement is asked for once, listing everything missing (Decree 61/2018,
    Art. 15); a second request needs a leader, with the reason."""

    def __init__(self) -> None:
        super().__init__(
            "a supplement was already requested for this dossier; the request must list "
            "everything missing at once, and a second request needs a leader with the reason"
        )


class InvalidAcceptance(WorkflowError):
    """Accepting with a complexity or remote-area limit the procedure does not have."""

    def __init__(self, field_name: str, message: str) -> None:
        self.field_name = field_name
        super().__init__(message)


class InvalidExtension(WorkflowError):
    """An extension longer than the law allows, or a second one without the case being
    particularly complex (Law on Denunciation 2018, Art. 30)."""

    def __init__(self, field_name: str, message: str) -> None:
        self.field_name = field_name
        super().__init__(message)


class InvalidApology(WorkflowError):
    """An apology slip whose new date is not a working day after today and after the
    appointment the applicant holds."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class ResultNotIssued(WorkflowError):
    """An approved dossier's result is handed over once its signed document is issued."""

    def __init__(self) -> None:
        super().__init__(
            "the signed result document is not issued yet; it is issued shortly after the approval"
        )


class OwnApology(WorkflowError):
    """The leader who signs an apology slip is not the officer who drafted it."""

    def __init__(self) -> None:
        super().__init__("an apology slip is signed off by a leader other than its author")


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
    applicant_lookup: Sequence[str] = (),
) -> Change:
    """A dossier as it arrives from intake, after the automatic check of its documents.

    The procedure's catalogue entry decides the policy, the handling agency and the
    documents to look for. A procedure missing from this service's catalogue (a
    catalogue rolled out to intake first) is still received, without a document check
    and on intake's appointment date, rather than leaving a citizen's dossier unread.

    A complete complaint or denunciation waits for acceptance (thụ lý) instead, and an
    incomplete one for its documents first; until it is accepted its due date is the
    acceptance's.
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

    acceptance_due: date | None = None
    if policy.needs_acceptance:
        assert policy.acceptance_days is not None
        acceptance_due = due_after(
            received_at, policy.acceptance_days, policy.acceptance_clock, calendar=calendar
        )
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
        due_date=acceptance_due or compute_due_date(received_at, policy, [], calendar=calendar),
        acceptance_due_date=acceptance_due,
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
        applicant_lookup=list(applicant_lookup),
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
        dossier.status,
        action,
        role,
        policy,
        params.as_mapping(),
        dossier.deadline_extended,
        dossier.progress,
    )
    if (
        role is ActorRole.OFFICER
        and dossier.assignee is not None
        and dossier.assignee != officer_id
    ):
        raise AssignedElsewhere(dossier.assignee)
    today = calendar.local_date(now)
    if (
        action is Action.RETURN_RESULT
        and dossier.status is DossierStatus.APPROVED
        and dossier.result_document is None
    ):
        raise ResultNotIssued()
    if action is Action.REQUEST_SUPPLEMENT and role is not ActorRole.SYSTEM:
        _check_supplement_request(dossier, role, params)

    updates: dict[str, Any] = {"status": new_status, "version": dossier.version + 1}
    changes: list[FieldChange] = []
    if new_status is not dossier.status:
        changes.append(FieldChange(field="status", old=dossier.status.value, new=new_status.value))
    clear_overdue = False

    if action is Action.REQUEST_SUPPLEMENT:
        updates["pauses"] = [*dossier.pauses, PauseRecord(started=today)]
        updates["missing_documents"] = list(params.missing_documents)
        updates["missing_items"] = list(params.missing_items)
        if dossier.supplement_requests:
            # The second request, a leader's: its reason is in the history and the event.
            changes.append(
                FieldChange(
                    field="supplement_requests",
                    old=str(dossier.supplement_requests),
                    new=str(dossier.supplement_requests + 1),
                )
            )
    elif action is Action.SUPPLEMENT:
        pauses = _close_pauses(dossier.pauses, today)
        updates["pauses"] = pauses
        updates["missing_documents"] = []
        updates["missing_items"] = []
        updates["attachments"] = _merge_attachments(dossier.attachments, params.attachments)
        updates["due_date"] = _due_date(dossier, pauses, calendar)
        if dossier.acceptance_due_date is not None and dossier.accepted_at is None:
            updates["acceptance_due_date"] = updates["due_date"]
    elif action is Action.ACCEPT:
        updates |= _acceptance(dossier, params, now, calendar)
        changes.append(FieldChange(field="accepted_at", old=None, new=now.isoformat()))
        clear_overdue = True
    elif action is Action.EXTEND_DEADLINE:
        updates |= _extension(dossier, params, actor, now)
        extended = dossier.model_copy(update=updates)
        updates["due_date"] = _due_date(extended, dossier.pauses, calendar)
    elif action in (Action.APPROVE, Action.REJECT, Action.DECLINE):
        updates |= _decision(dossier, now, calendar)
        reference = params.result_reference
        if reference is None and params.decision is not None and action is Action.APPROVE:
            reference = params.decision.number
        if reference:
            updates["result_reference"] = reference
            changes.append(FieldChange(field="result_reference", old=None, new=reference))
        if params.decision is not None and (
            dossier.kind.value in DECISION_KINDS or action is Action.DECLINE
        ):
            updates["decision"] = params.decision
            changes.append(FieldChange(field="decision", old=None, new=params.decision.number))
    elif action is Action.PROPOSE_APOLOGY:
        assert params.new_due_date is not None
        assert params.apology_text is not None
        _check_new_appointment(dossier, params.new_due_date, today, calendar)
        updates["apology_proposal"] = ApologyProposal(
            new_due_date=params.new_due_date,
            text=params.apology_text,
            proposed_by=actor,
            proposed_at=now,
        )
    elif action is Action.SIGN_APOLOGY:
        proposal = dossier.apology_proposal
        assert proposal is not None  # the workflow offers the signature only then
        if proposal.proposed_by == actor:
            raise OwnApology()
        _check_new_appointment(dossier, proposal.new_due_date, today, calendar)
        updates["apology_proposal"] = None
        updates["apology"] = Apology(
            old_due_date=dossier.due_date,
            new_due_date=proposal.new_due_date,
            issued_at=now,
            text=proposal.text,
            proposed_by=proposal.proposed_by,
            signed_by=actor,
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
    reason = params.reason
    if action is Action.PROPOSE_APOLOGY:
        reason = params.apology_text
    entry = HistoryEntry(
        action=action.value,
        from_status=dossier.status.value,
        to_status=new_status.value,
        actor=actor,
        at=now,
        reason=reason,
    )
    updates["history"] = [*dossier.history, entry]
    after = dossier.model_copy(update=updates)

    events: list[EventData]
    if action is Action.EXTEND_DEADLINE:
        assert params.reason is not None
        events = [
            DossierDeadlineExtended(
                **_ref(after),
                old_due_date=dossier.due_date,
                new_due_date=after.due_date,
                reason=params.reason,
                occurred_at=now,
                changes=changes,
            )
        ]
    elif action is Action.PROPOSE_APOLOGY:
        # A draft inside the unit: nothing reaches the applicant until it is signed.
        events = []
    elif action is Action.SIGN_APOLOGY:
        events = [_apology_issued(dossier, after, now)]
    else:
        events = [_status_changed(after, dossier.status, action, params, now, changes)]
    return Change(after, events, clear_overdue=clear_overdue)


def _check_supplement_request(dossier: Dossier, role: ActorRole, params: ActionParams) -> None:
    if dossier.supplement_requests and role is not ActorRole.LEADER:
        raise SupplementAlreadyRequested()
    # The one request lists everything missing, so the applicant brings it all at once.
    if not params.missing_documents and not params.missing_items:
        raise MissingParameter(Action.REQUEST_SUPPLEMENT, ["missing_documents"])
    if dossier.catalogued:
        unknown = [c for c in params.missing_documents if c not in dossier.document_codes]
        if unknown:
            raise UnknownDocuments(unknown)


def _acceptance(
    dossier: Dossier, params: ActionParams, now: datetime, calendar: WorkingCalendar
) -> dict[str, Any]:
    """Accepting a case starts its time limit (Law on Complaints 2011, Art. 28 and 37;
    Law on Denunciation 2018, Art. 30: the limits run from acceptance, not receipt)."""
    policy = dossier.workflow_policy
    if params.complex_case and policy.extends_by_days:
        raise InvalidAcceptance(
            "complex",
            f"a {policy.kind}'s complexity is met by extending its deadline, not at acceptance",
        )
    try:
        days = time_limit(policy, params.complex_case, params.remote_area)
    except ValueError as exc:
        name = "remote_area" if params.remote_area else "complex"
        raise InvalidAcceptance(name, str(exc)) from exc
    return {
        "accepted_at": now,
        "complex_case": params.complex_case,
        "remote_area": params.remote_area,
        "due_date": due_after(now, days, policy.clock, calendar=calendar),
    }


def _extension(dossier: Dossier, params: ActionParams, actor: str, now: datetime) -> dict[str, Any]:
    policy = dossier.workflow_policy
    assert params.reason is not None
    if not policy.extends_by_days:
        # A complaint found complex: its limit becomes the complex case's.
        return {"deadline_extended": True, "complex_case": True}
    assert policy.extension_days is not None
    days = params.extension_days if params.extension_days is not None else policy.extension_days
    if not 1 <= days <= policy.extension_days:
        raise InvalidExtension(
            "extension_days",
            f"an extension adds 1 to {policy.extension_days} days "
            "(Law on Denunciation 2018, Art. 30)",
        )
    if dossier.extensions and not params.particularly_complex:
        raise InvalidExtension(
            "particularly_complex",
            "a second extension is only for a particularly complex case "
            "(Law on Denunciation 2018, Art. 30)",
        )
    longest = policy.processing_days + policy.extension_days * policy.max_extensions
    if dossier.time_limit_days() + days > longest:
        raise InvalidExtension(
            "extension_days", f"the time limit may not exceed {longest} days in all"
        )
    extension = Extension(
        days=days,
        reason=params.reason,
        particularly_complex=params.particularly_complex,
        by=actor,
        at=now,
    )
    return {"deadline_extended": True, "extensions": [*dossier.extensions, extension]}


def _check_new_appointment(
    dossier: Dossier, new_date: date, today: date, calendar: WorkingCalendar
) -> None:
    held = max(today, dossier.appointment_date)
    if new_date <= held:
        raise InvalidApology(
            "the new appointment must be later than today and than the appointment "
            f"the applicant holds ({dossier.appointment_date.isoformat()})"
        )
    if new_date > held + timedelta(days=NEW_APPOINTMENT_MAX_DAYS):
        raise InvalidApology(
            f"the new appointment may be at most {NEW_APPOINTMENT_MAX_DAYS} days later"
        )
    if not calendar.is_working_day(new_date):
        raise InvalidApology("the new appointment must be a working day")


def _apology_issued(before: Dossier, after: Dossier, now: datetime) -> DossierApologyIssued:
    apology = after.apology
    assert apology is not None
    assert apology.text is not None
    return DossierApologyIssued(
        **_ref(after),
        old_due_date=apology.old_due_date,
        new_due_date=apology.new_due_date,
        reason=apology.text,
        issued_at=now,
        recipient=after.recipient,
        changes=[
            FieldChange(
                field="appointment_date",
                old=before.appointment_date.isoformat(),
                new=apology.new_due_date.isoformat(),
            )
        ],
    )


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
        missing_items=list(params.missing_items) or None,
        # While the applicant owes documents there is no appointment to announce.
        due_date=None if after.status in CLOCK_PAUSED_STATUSES else after.appointment_date,
        result_reference=params.result_reference
        or (after.result_reference if action is Action.APPROVE else None),
        **_handed_result(after, action),
        decision=after.decision if action in _ANSWERS else None,
        occurred_at=now,
        version=after.version,
        recipient=after.recipient,
        changes=changes,
    )


_ANSWERS = frozenset({Action.APPROVE, Action.REJECT, Action.DECLINE})


def _handed_result(after: Dossier, action: Action) -> dict[str, str]:
    """The result document handed over with ``return_result``: its id and SHA-256."""
    issued = after.result_document
    if action is not Action.RETURN_RESULT or issued is None:
        return {}
    return {"result_document_id": issued.document_id, "result_sha256": issued.sha256}


def _close_pauses(pauses: list[PauseRecord], today: date) -> list[PauseRecord]:
    # A supplement arriving before the clock would have started (an evening submission
    # completed the same night) paused nothing.
    return [
        p if p.ended is not None else PauseRecord(started=p.started, ended=max(today, p.started))
        for p in pauses
    ]


def _due_date(dossier: Dossier, pauses: list[PauseRecord], calendar: WorkingCalendar) -> date:
    closed = [p.pause() for p in pauses if p.ended is not None]
    policy = dossier.workflow_policy
    if dossier.accepted_at is not None:
        # An accepted case counts from its acceptance; what was paused before is spent.
        accepted_on = calendar.local_date(dossier.accepted_at)
        closed = [p for p in closed if p.started >= accepted_on]
        return due_after(
            dossier.accepted_at, dossier.time_limit_days(), policy.clock, closed, calendar
        )
    if policy.needs_acceptance and dossier.acceptance_due_date is not None:
        assert policy.acceptance_days is not None
        return due_after(
            dossier.submitted_at, policy.acceptance_days, policy.acceptance_clock, closed, calendar
        )
    return due_after(
        dossier.submitted_at, dossier.time_limit_days(), policy.clock, closed, calendar
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
