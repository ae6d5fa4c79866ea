"""Request and response bodies of processing's HTTP API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chassis.events import Attachment, Decision, DossierKind
from processing.domain.dossier import (
    Apology,
    ApologyProposal,
    Dossier,
    Extension,
    HistoryEntry,
    IssuedResult,
)
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
    missing_items: list[str] = Field(default_factory=list)
    result_reference: str | None
    # The signed result document intake issued for the approval (read it at intake:
    # GET /v1/dossiers/{receipt_code}/documents/{document_id}).
    result_document: IssuedResult | None = None
    decision: Decision | None = None
    decided_at: datetime | None
    acceptance_due_date: date | None = Field(
        default=None, description="Complaints and denunciations: the day to accept or decline by"
    )
    accepted_at: datetime | None = None
    complex_case: bool = False
    remote_area: bool = False
    extensions: list[Extension] = Field(default_factory=list)
    apology: Apology | None = Field(default=None, description="The signed apology slip")
    apology_proposal: ApologyProposal | None = Field(
        default=None, description="An apology slip drafted, waiting for a leader's signature"
    )
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
            missing_items=dossier.missing_items,
            result_reference=dossier.result_reference,
            result_document=dossier.result_document,
            decision=dossier.decision,
            decided_at=dossier.decided_at,
            acceptance_due_date=dossier.acceptance_due_date,
            accepted_at=dossier.accepted_at,
            complex_case=dossier.complex_case,
            remote_area=dossier.remote_area,
            extensions=dossier.extensions,
            apology=dossier.apology,
            apology_proposal=dossier.apology_proposal,
            allowed_actions=allowed,
            history=dossier.history,
            notes=[NoteOut.model_validate(n) for n in notes],
        )


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(min_length=1, max_length=100)
    issued_on: date
    summary: str = Field(min_length=1, max_length=4000)

    def decision(self) -> Decision:
        return Decision(number=self.number, issued_on=self.issued_on, summary=self.summary)


class ActionIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "action": "request_supplement",
                    "reason": "Hồ sơ còn thiếu giấy tờ",
                    "missing_documents": ["business_registration"],
                    "missing_items": ["Bản vẽ mặt bằng có chữ ký của đơn vị thiết kế"],
                },
                {"action": "approve", "result_reference": "GP-2026-0412"},
                {"action": "accept", "complex": True, "remote_area": False},
                {
                    "action": "extend_deadline",
                    "reason": "Vụ việc đặc biệt phức tạp",
                    "extension_days": 30,
                    "particularly_complex": True,
                },
                {
                    "action": "reject",
                    "reason": "Khiếu nại không có cơ sở",
                    "decision": {
                        "number": "125/QĐ-STNMT",
                        "issued_on": "2026-12-01",
                        "summary": "Giữ nguyên quyết định bị khiếu nại",
                    },
                },
                {
                    "action": "propose_apology",
                    "new_due_date": "2026-12-24",
                    "apology_text": "Hồ sơ cần xác minh thực địa nên chưa kịp trả kết quả",
                },
            ]
        },
    )

    action: Action
    reason: str | None = Field(default=None, min_length=1, max_length=2000)
    result_reference: str | None = Field(default=None, min_length=1, max_length=200)
    missing_documents: list[DocumentCode] = Field(default_factory=list, max_length=50)
    missing_items: list[Annotated[str, StringConstraints(min_length=1, max_length=500)]] = Field(
        default_factory=list,
        max_length=50,
        description="`request_supplement`: what else is missing, in words",
    )
    decision: DecisionIn | None = Field(
        default=None,
        description="`approve`, `reject` (required for complaints and denunciations), "
        "`decline`: the written decision or conclusion",
    )
    complex: bool = Field(
        default=False, description="`accept`: a complex complaint (the longer time limit)"
    )
    remote_area: bool = Field(
        default=False, description="`accept`: a complaint from a remote area (longer limits)"
    )
    extension_days: int | None = Field(
        default=None, ge=1, le=366, description="`extend_deadline` of a denunciation: days added"
    )
    particularly_complex: bool = Field(
        default=False,
        description="`extend_deadline`: the case is particularly complex (needed for the "
        "second extension of a denunciation)",
    )
    new_due_date: date | None = Field(
        default=None, description="`propose_apology`: the new appointment date"
    )
    apology_text: str | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description="`propose_apology`: the apology and its reason, as the applicant reads it",
    )


class SearchIn(BaseModel):
    """Every criterion given must hold. In the body, not the URL, so that a phone or ID
    number never reaches an access log."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"phone": "0912345678"},
                {"id_number": "001085012345", "statuses": ["in_review"]},
                {"procedure_code": "MT-004", "submitted_from": "2026-11-01", "limit": 50},
            ]
        },
    )

    receipt_code: str | None = Field(
        default=None, min_length=1, max_length=40, pattern=r"^[A-Z0-9][A-Z0-9-]*$"
    )
    statuses: list[DossierStatus] | None = Field(
        default=None, max_length=20, description="Only these statuses (default: all)"
    )
    procedure_code: str | None = Field(default=None, max_length=64, pattern=CODE_PATTERN)
    submitted_from: date | None = Field(default=None, description="Received on or after")
    submitted_to: date | None = Field(default=None, description="Received on or before")
    phone: str | None = Field(default=None, min_length=3, max_length=32)
    id_number: str | None = Field(default=None, min_length=3, max_length=32)
    cursor: str | None = Field(
        default=None, max_length=512, description="`next_cursor` of the previous page"
    )
    limit: int = Field(default=20, ge=1, description="Items per page, at most 100")


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
    model_config = _examples({"overdue_emitted": 3})

    overdue_emitted: int


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
