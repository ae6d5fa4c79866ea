"""Request and response bodies of intake's API. Unknown fields are refused everywhere."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from chassis.catalogue import (
    Agency,
    Catalogue,
    OnlineSteps,
    Procedure,
    RequiredDocument,
    load_default_catalogue,
)
from chassis.events import ApplicantType, Channel
from intake.domain.applicant import CITIZEN_ID_RE, normalise_phone, normalise_tax_code
from intake.domain.submission import AttachmentRef

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Hard ceilings that keep a hostile body cheap to refuse; the configurable limits are
# checked afterwards and are lower.
_MAX_ATTACHMENTS = 500
_MAX_CONTENT = 100_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


RECEIPT_CODE = "MT-261126-XVQKYC"
DOSSIER_ID = "0b6f1c3e-8d2a-4f5e-9a71-3c2d1e0f4a5b"
_ATTACHMENT = {
    "document_code": "application_form",
    "name": "don-dang-ky.pdf",
    "media_type": "application/pdf",
    "size": 634,
    "sha256": "147923e0178f6ba8a6e243eed18e20ab40564724720dbdf2ee1abca8eea0759e",
}


def _plain_text(value: str | None) -> str | None:
    if value is not None and _CONTROL.search(value):
        raise ValueError("control characters are not allowed")
    return value


class ApplicantIn(_Strict):
    type: ApplicantType
    name: str = Field(min_length=1, max_length=200)
    id_number: str = Field(
        min_length=10,
        max_length=14,
        description="12-digit citizen ID (CCCD) for a person; 10 or 13-digit tax code "
        "for an organisation",
    )
    email: EmailStr | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=20, description="Vietnamese number")
    address: str | None = Field(default=None, min_length=1, max_length=300)
    language: Literal["vi", "en"] = "vi"
    sms_opt_out: bool = False
    portal_account: str | None = Field(
        default=None, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"
    )

    _text = field_validator("name", "address")(_plain_text)

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, value: str, info: ValidationInfo) -> str:
        kind = info.data.get("type")
        if kind is ApplicantType.PERSON and not CITIZEN_ID_RE.fullmatch(value):
            raise ValueError("a person is identified by the 12-digit citizen ID (CCCD)")
        if kind is ApplicantType.ORGANISATION:
            return normalise_tax_code(value)
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else normalise_phone(value)

    @model_validator(mode="after")
    def _reachable(self) -> ApplicantIn:
        if not (self.email or self.phone or self.portal_account):
            raise ValueError("give an email, a phone number or a portal account for replies")
        return self


class AttachmentIn(_Strict):
    document_code: str = Field(max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(min_length=1, max_length=255, pattern=r"^[^/\\]+$")
    media_type: str = Field(max_length=127, pattern=r"^[a-z]+/[a-z0-9.+-]+$")
    size: StrictInt = Field(ge=1, le=2**40)  # a JSON `true` is not a size
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")

    _text = field_validator("name")(_plain_text)

    @field_validator("sha256")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    def ref(self) -> AttachmentRef:
        """What the catalogue's attachment rules look at."""
        return AttachmentRef(self.document_code, self.media_type, self.size)


class SubmissionIn(_Strict):
    # The body of docs/examples/submission.json: a fully online procedure, accepted.
    model_config = _examples(
        {
            "procedure_code": "MT-004",
            "channel": "online",
            "applicant": {
                "type": "person",
                "name": "Nguyễn Văn Mẫu",
                "id_number": "001090000001",
                "email": "mau@example.vn",
                "language": "vi",
            },
            "form": {
                "facility_name": "Xưởng sửa chữa ô tô Minh Khai",
                "facility_address": "Phường Minh Khai, Bắc Từ Liêm, Hà Nội",
                "waste_items": [
                    {
                        "waste_code": "17 02 03",
                        "name": "Dầu thải",
                        "state": "liquid",
                        "quantity_kg_per_year": 200,
                    }
                ],
            },
            "attachments": [
                _ATTACHMENT,
                {
                    "document_code": "business_registration",
                    "name": "dang-ky-kinh-doanh.pdf",
                    "media_type": "application/pdf",
                    "size": 625,
                    "sha256": "e8aef58a6003fffa7b27f7a5303c2f90dc4e047d39421b9b6dfb1c407abf108c",
                },
            ],
        }
    )

    procedure_code: str = Field(max_length=32, pattern=r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*$")
    channel: Channel = Channel.ONLINE
    applicant: ApplicantIn
    form: dict[str, Any] = Field(default_factory=dict)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=_MAX_ATTACHMENTS)
    content: str | None = Field(default=None, min_length=1, max_length=_MAX_CONTENT)
    received_on: date | None = Field(
        default=None,
        description="post channel only: the day the letter reached the department (its "
        "incoming mail register), from which the statutory time runs; today if left out",
        examples=["2026-11-25"],
    )


class DocumentOut(BaseModel):
    model_config = _examples(
        {
            "document_id": "6751c0a2e4b0f1a2b3c4d5e6",
            "sha256": _ATTACHMENT["sha256"],
            "size": _ATTACHMENT["size"],
            "media_type": "application/pdf",
        }
    )

    document_id: str
    sha256: str = Field(description="name the document by it in a submission's attachment")
    size: int
    media_type: str


class SubmissionAccepted(BaseModel):
    model_config = _examples(
        {
            "dossier_id": DOSSIER_ID,
            "receipt_code": RECEIPT_CODE,
            "procedure_code": "MT-004",
            "received_at": "2026-11-26T02:15:00Z",
            "due_date": "2026-12-17",
            "follow_up_secret": "K7QD-4XPM-2RTA-9B3C",
            "status_url": f"/v1/dossiers/{RECEIPT_CODE}/status",
        }
    )

    dossier_id: str
    receipt_code: str = Field(
        description="read it out over the phone; the last character checks it"
    )
    procedure_code: str
    received_at: datetime
    due_date: date = Field(description="appointment date for the result (ngày hẹn trả)")
    follow_up_secret: str = Field(
        description="shown once: with the receipt code it opens the dossier's status"
    )
    status_url: str


class SupplementIn(_Strict):
    model_config = _examples(
        {"attachments": [_ATTACHMENT], "note": "Bản đăng ký đã bổ sung chữ ký"}
    )

    attachments: list[AttachmentIn] = Field(min_length=1, max_length=_MAX_ATTACHMENTS)
    note: str | None = Field(default=None, min_length=1, max_length=2000)


class WithdrawalIn(_Strict):
    model_config = _examples({"reason": "Cơ sở đã ngừng hoạt động"})

    reason: str | None = Field(default=None, min_length=1, max_length=1000)


class FollowUpAccepted(BaseModel):
    model_config = _examples(
        {
            "receipt_code": RECEIPT_CODE,
            "request": "supplement",
            "accepted_at": "2026-12-01T03:20:00Z",
        }
    )

    receipt_code: str
    request: Literal["supplement", "withdrawal"]
    accepted_at: datetime


class ResultDocumentOut(BaseModel):
    """The signed result document (licence, certificate, decision) the citizen may fetch."""

    document_id: str
    sha256: str = Field(description="of the PDF's exact bytes; also in the audit log")
    size: int
    decision_number: str | None = None
    issued_at: datetime


class DossierStatusOut(BaseModel):
    model_config = _examples(
        {
            "receipt_code": RECEIPT_CODE,
            "procedure_code": "MT-004",
            "procedure_name_vi": "Đăng ký chủ nguồn thải chất thải nguy hại",
            "procedure_name_en": "Registration as a hazardous waste source owner",
            "status": "supplement_requested",
            "due_date": None,
            "missing_documents": ["business_registration"],
            "missing_items": ["Bản vẽ mặt bằng có chữ ký của chủ cơ sở"],
            "updated_at": "2026-11-28T08:05:00Z",
            "result_document": None,
        }
    )

    receipt_code: str
    procedure_code: str
    procedure_name_vi: str
    procedure_name_en: str
    status: str
    due_date: date | None
    missing_documents: list[str]
    missing_items: list[str] = Field(
        default_factory=list, description="what else is missing, in the officer's words"
    )
    updated_at: datetime
    result_document: ResultDocumentOut | None = Field(
        default=None,
        description="the signed result, once issued and the dossier decided: download it "
        "from `/v1/dossiers/{receipt_code}/documents/{document_id}` with the same second factor",
    )


class IdentityOut(BaseModel):
    model_config = _examples(
        {
            "pseudonym": "den-3f9a1c7b2e4d6a8c0b1e",
            "dossier_id": DOSSIER_ID,
            "receipt_code": "TT-261126-SDVN61",
            "name": "Phạm Văn Cường",
            "id_number": "001088054321",
            "address": "Số 9 Hàng Bài, Hoàn Kiếm, Hà Nội",
            "phone": None,
            "email": "cuong@example.vn",
        }
    )

    pseudonym: str
    dossier_id: str
    receipt_code: str
    name: str
    id_number: str
    address: str | None
    phone: str | None
    email: str | None


# --------------------------------------------------------------------------- catalogue

EXAMPLE_PROCEDURE = "MT-004"


def _from_catalogue(build: Callable[[Catalogue], BaseModel]) -> ConfigDict:
    """An example made from the real catalogue when the schema is written, so that it
    shows what the route answers today."""

    def extra(schema: dict[str, Any]) -> None:
        example = build(load_default_catalogue()).model_dump(mode="json", by_alias=True)
        schema["examples"] = [example]

    return ConfigDict(json_schema_extra=extra)


def _procedure_example(catalogue: Catalogue) -> ProcedureDetail:
    procedure = catalogue.get(EXAMPLE_PROCEDURE)
    assert procedure is not None
    return ProcedureDetail.of(procedure, catalogue.agency(procedure.agency))


def _list_example(catalogue: Catalogue) -> ProcedureList:
    found = catalogue.search(text="chat thai nguy hai")
    return ProcedureList(
        count=len(found),
        procedures=[ProcedureSummary.of(p, catalogue.agency(p.agency)) for p in found],
    )


class AgencyOut(BaseModel):
    code: str
    name_vi: str
    name_en: str

    @classmethod
    def of(cls, agency: Agency) -> AgencyOut:
        return cls(code=agency.code, name_vi=agency.name_vi, name_en=agency.name_en)


class ProcedureSummary(BaseModel):
    code: str
    name_vi: str
    name_en: str
    kind: str
    sector: str
    online_level: str
    # Which steps need no visit: lodging, payment, result (Decree 42/2022/NĐ-CP).
    online_steps: OnlineSteps
    agency: AgencyOut
    processing_days: int
    clock: str
    fee_vnd: int
    url: str

    @classmethod
    def of(cls, procedure: Procedure, agency: Agency) -> ProcedureSummary:
        return cls(
            code=procedure.code,
            name_vi=procedure.name_vi,
            name_en=procedure.name_en,
            kind=procedure.kind.value,
            sector=procedure.sector.value,
            online_level=procedure.online_level.value,
            online_steps=procedure.online_steps,
            agency=AgencyOut.of(agency),
            processing_days=procedure.processing_days,
            clock=procedure.clock.value,
            fee_vnd=procedure.fee_vnd,
            url=f"/v1/procedures/{procedure.code}",
        )


class ProcedureDetail(ProcedureSummary):
    model_config = _from_catalogue(_procedure_example)

    extended_processing_days: int | None
    # Complaints and denunciations: accepted (thụ lý) first, their time runs from then.
    acceptance_days: int | None
    acceptance_clock: str | None
    remote_area_processing_days: int | None
    remote_area_extended_processing_days: int | None
    extension_days: int | None
    max_extensions: int
    fee_note_vi: str | None
    fee_note_en: str | None
    legal_basis: str
    confidential_applicant: bool
    required_documents: list[RequiredDocument]
    form_schema: dict[str, Any]

    @classmethod
    def of(cls, procedure: Procedure, agency: Agency) -> ProcedureDetail:
        summary = ProcedureSummary.of(procedure, agency)
        return cls(
            **summary.model_dump(),
            extended_processing_days=procedure.extended_processing_days,
            acceptance_days=procedure.acceptance_days,
            acceptance_clock=(
                procedure.acceptance_clock.value if procedure.has_acceptance_step else None
            ),
            remote_area_processing_days=procedure.remote_area_processing_days,
            remote_area_extended_processing_days=procedure.remote_area_extended_processing_days,
            extension_days=procedure.extension_days,
            max_extensions=procedure.max_extensions,
            fee_note_vi=procedure.fee_note_vi,
            fee_note_en=procedure.fee_note_en,
            legal_basis=procedure.legal_basis,
            confidential_applicant=procedure.confidential_applicant,
            required_documents=list(procedure.required_documents),
            form_schema=procedure.form_schema,
        )


class ProcedureList(BaseModel):
    model_config = _from_catalogue(_list_example)

    count: int
    procedures: list[ProcedureSummary]
