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

DOSSIER_ID_EXAMPLE = "0b6f1c3e-8d2a-4f5e-9a71-3c2d1e0f4a5b"
_SUBMITTED = "2026-11-26T02:15:00Z"


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


_QUEUE_ITEM: dict[str, Any] = {
    "dossier_id": DOSSIER_ID_EXAMPLE,
    "receipt_code": "MT-261126-XVQKYC",
    "procedure_code": "MT-004",
    "procedure_name_vi": "Đăng ký chủ nguồn thải chất thải nguy hại",
    "procedure_name_en": "Registration as a hazardous waste source owner",
    "kind": "procedure",
    "status": "in_review",
    "version": 4,
    "submitted_at": _SUBMITTED,
    "due_date": "2026-12-17",
    "appointment_date": "2026-12-17",
    "overdue": False,
    "clock_paused": False,
    "assignee": "officer-a",
}
_FIGURES: dict[str, Any] = {
    "received": 120,
    "in_progress": 31,
    "withdrawn": 4,
    "resolved_on_time": 80,
    "resolved_late": 5,
    "overdue_now": 2,
    "on_time_rate": 0.9412,
    "average_working_days": 9.6,
}


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
    model_config = _examples(
        {"items": [_QUEUE_ITEM], "next_cursor": "WyJxdWV1ZS5kdWVfZGF0ZSIsIjIwMjYtMTItMTciLCIwYiJd"}
    )

    items: list[QueueItem]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; absent on the last page"
    )


class NoteOut(BaseModel):
    model_config = _examples(
        {
            "id": "5d1e8c2a-7b3f-4e9a-8c6d-1f2e3a4b5c6d",
            "officer_id": "officer-a",
            "text": "Đã gọi điện cho cơ sở để hẹn kiểm tra thực địa",
            "at": "2026-11-30T03:00:00Z",
        }
    )

    id: str
    officer_id: str
    text: str
    at: datetime


class ApplicantOut(BaseModel):
    """Only what an officer needs to address the applicant; a denouncer is a pseudonym."""

    display_name: str | None
    pseudonym: str | None


class DossierOut(BaseModel):
    model_config = _examples(
        {
            **{k: v for k, v in _QUEUE_ITEM.items() if k not in ("overdue", "clock_paused")},
            "agency": "STNMT-MT",
            "channel": "online",
            "deadline_extended": False,
            "overdue": False,
            "clock_paused": False,
            "applicant": {"display_name": "Nguyễn Văn Mẫu", "pseudonym": None},
            "form": {
                "facility_name": "Xưởng sửa chữa ô tô Minh Khai",
                "facility_address": "Phường Minh Khai, Bắc Từ Liêm, Hà Nội",
            },
            "content": None,
            "attachments": [
                {
                    "document_code": "application_form",
                    "name": "don-dang-ky.pdf",
                    "media_type": "application/pdf",
                    "size": 96000,
                    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                }
            ],
            "missing_documents": [],
            "result_reference": None,
            "decided_at": None,
            "allowed_actions": ["request_supplement", "forward_for_approval", "withdraw"],
            "history": [
                {
                    "action": "receive",
                    "from_status": "submitted",
                    "to_status": "received",
                    "actor": "system:processing",
                    "at": _SUBMITTED,
                    "reason": None,
                },
                {
                    "action": "start_review",
                    "from_status": "received",
                    "to_status": "in_review",
                    "actor": "officer:officer-a",
                    "at": "2026-11-27T01:30:00Z",
                    "reason": None,
                },
            ],
            "notes": [],
        }
    )

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
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"action": "request_supplement", "missing_documents": ["business_registration"]},
                {"action": "approve", "result_reference": "GP-2026-0412"},
            ]
        },
    )

    action: Action
    reason: str | None = Field(default=None, min_length=1, max_length=2000)
    result_reference: str | None = Field(default=None, min_length=1, max_length=200)
    missing_documents: list[DocumentCode] = Field(default_factory=list, max_length=50)


class AssigneeIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"officer_id": "officer-b"}]}
    )

    officer_id: str = Field(min_length=1, max_length=128)


class NoteIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"text": "Đã gọi điện cho cơ sở để hẹn kiểm tra thực địa"}]
        },
    )

    text: str = Field(min_length=1, max_length=4000)


class ScanOut(BaseModel):
    model_config = _examples({"overdue_emitted": 3, "apologies_issued": 1})

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
    model_config = _examples(
        {
            "period_from": "2026-11-01",
            "period_to": "2026-11-30",
            "as_of": "2026-11-30",
            "procedures": [
                {
                    "procedure_code": "MT-004",
                    "procedure_name_vi": "Đăng ký chủ nguồn thải chất thải nguy hại",
                    "procedure_name_en": "Registration as a hazardous waste source owner",
                    **_FIGURES,
                }
            ],
            "agencies": [
                {
                    "agency": "STNMT-MT",
                    "agency_name_vi": "Chi cục Bảo vệ môi trường",
                    "agency_name_en": "Environmental Protection Sub-Department",
                    **_FIGURES,
                }
            ],
            "total": _FIGURES,
        }
    )

    period_from: date
    period_to: date
    as_of: date = Field(description="The day `overdue_now` was measured on")
    procedures: list[ProcedureFigures]
    agencies: list[AgencyFigures]
    total: Figures
