"""Request and response bodies of processing's HTTP API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chassis.events import Attachment, DossierKind
from processing.domain.dossier import Dossier, HistoryEntry
from processing.domain.workflow import Action, DossierStatus

DocumentCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
# Query values are compared with stored fields; their shapes also keep operator-like
# values ("{"$ne": ""}", "$where") out at the door.
CODE_PATTERN = r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*$"
OFFICER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"


class QueueItem(BaseModel):
    dossier_id: str
    receipt_code: str
    procedure_code: str
    procedure_name_vi: str
    procedure_name_en: str
    kind: DossierKind
    status: DossierStatus
    version: int
    submitted_at: datetime
    due_date: date
    appointment_date: date
    overdue: bool = Field(description="The clock runs and the due date has passed")
    clock_paused: bool = Field(description="The applicant owes documents; the clock stands")
    assignee: str | None


class QueuePage(BaseModel):
    items: list[QueueItem]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; absent on the last page"
    )


class NoteOut(BaseModel):
    id: str
    officer_id: str
    text: str
    at: datetime


class ApplicantOut(BaseModel):
    """Only what an officer needs to address the applicant; a denouncer is a pseudonym."""

    display_name: str | None
    pseudonym: str | None


class DossierOut(BaseModel):
    dossier_id: str
    receipt_code: str
    procedure_code: str
    procedure_name_vi: str
    procedure_name_en: str
    agency: str
    kind: DossierKind
    channel: str
    status: DossierStatus
    version: int
    submitted_at: datetime
    due_date: date
    appointment_date: date
    deadline_extended: bool
    overdue: bool
    clock_paused: bool
    assignee: str | None
    applicant: ApplicantOut
    form: dict[str, Any]
    content: str | None
    attachments: list[Attachment]
    missing_documents: list[str]
    result_reference: str | None
    decided_at: datetime | None
    allowed_actions: list[Action] = Field(
        description="What the caller may do next, in workflow order"
    )
    history: list[HistoryEntry]
    notes: list[NoteOut]

    @classmethod
    def of(
        cls,
        dossier: Dossier,
        notes: list[dict[str, Any]],
        allowed: list[Action],
        today: date,
    ) -> DossierOut:
        return cls(
            dossier_id=dossier.id,
            receipt_code=dossier.receipt_code,
            procedure_code=dossier.procedure_code,
            procedure_name_vi=dossier.procedure_name_vi,
            procedure_name_en=dossier.procedure_name_en,
            agency=dossier.agency,
            kind=dossier.kind,
            channel=dossier.channel,
            status=dossier.status,
            version=dossier.version,
            submitted_at=dossier.submitted_at,
            due_date=dossier.due_date,
            appointment_date=dossier.appointment_date,
            deadline_extended=dossier.deadline_extended,
            overdue=dossier.overdue_on(today),
            clock_paused=dossier.is_open and not dossier.clock_running,
            assignee=dossier.assignee,
            applicant=ApplicantOut(
                display_name=dossier.recipient.display_name,
                pseudonym=dossier.applicant_pseudonym,
            ),
            form=dossier.form,
            content=dossier.content,
            attachments=dossier.attachments,
            missing_documents=dossier.missing_documents,
            result_reference=dossier.result_reference,
            decided_at=dossier.decided_at,
            allowed_actions=allowed,
            history=dossier.history,
            notes=[NoteOut.model_validate(n) for n in notes],
        )


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Action
    reason: str | None = Field(default=None, min_length=1, max_length=2000)
    result_reference: str | None = Field(default=None, min_length=1, max_length=200)
    missing_documents: list[DocumentCode] = Field(default_factory=list, max_length=50)


class AssigneeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    officer_id: str = Field(min_length=1, max_length=128)


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4000)


class ScanOut(BaseModel):
    overdue_emitted: int
    apologies_issued: int


class Figures(BaseModel):
    received: int
    in_progress: int
    withdrawn: int
    resolved_on_time: int
    resolved_late: int
    overdue_now: int
    on_time_rate: float | None = Field(
        description="resolved_on_time / (resolved_on_time + resolved_late); null if none"
    )
    average_working_days: float | None = Field(
        description="Mean working days from receipt to decision, pauses excluded"
    )


class ProcedureFigures(Figures):
    procedure_code: str
    procedure_name_vi: str
    procedure_name_en: str


class AgencyFigures(Figures):
    agency: str
    agency_name_vi: str
    agency_name_en: str


class StatisticsOut(BaseModel):
    period_from: date
    period_to: date
    as_of: date = Field(description="The day `overdue_now` was measured on")
    procedures: list[ProcedureFigures]
    agencies: list[AgencyFigures]
    total: Figures
