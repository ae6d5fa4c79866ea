"""What the department publishes about each administrative procedure (thủ tục hành chính)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# A procedure's kind is what its dossiers' events carry: one enum, from the event contract.
from chassis.events import DossierKind

__all__ = [
    "Agency",
    "Clock",
    "DossierKind",
    "OnlineLevel",
    "Procedure",
    "RequiredDocument",
    "Sector",
]


class Sector(StrEnum):
    LAND = "land"
    ENVIRONMENT = "environment"
    WATER_RESOURCES = "water_resources"
    MINERALS = "minerals"
    SURVEYING = "surveying"
    HYDROMETEOROLOGY = "hydrometeorology"
    SEA_ISLANDS = "sea_islands"
    GENERAL = "general"


class OnlineLevel(StrEnum):
    """How far a procedure can be carried out online.

    The old "level 2" corresponds to PARTIAL (dịch vụ công trực tuyến một phần: forms are
    published, the dossier is lodged at the counter); "level 3" and above to FULL
    (toàn trình: lodged and processed online, Decree 42/2022/NĐ-CP).
    """

    INFORMATION = "information"
    PARTIAL = "partial"
    FULL = "full"


class Clock(StrEnum):
    """Whether the statutory time counts working days or calendar days.

    Administrative procedures count working days; the Law on Complaints and the Law on
    Denunciation count calendar days from acceptance (thụ lý).
    """

    WORKING_DAYS = "working_days"
    CALENDAR_DAYS = "calendar_days"


_CODE_PATTERN = r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*$"
_DOCUMENT_CODE_PATTERN = r"^[a-z][a-z0-9_]*$"


class Agency(BaseModel):
    """A unit of the department that receives and handles dossiers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=_CODE_PATTERN)
    # Receipt codes are read out over the phone, so the prefix avoids I, L, O and U,
    # which the receipt alphabet folds into digits or leaves out.
    receipt_prefix: str = Field(pattern=r"^[A-HJKMNP-TV-Z]{2,4}$")
    name_vi: str = Field(min_length=1)
    name_en: str = Field(min_length=1)


class RequiredDocument(BaseModel):
    """One document (thành phần hồ sơ) an applicant has to supply."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=_DOCUMENT_CODE_PATTERN)
    name_vi: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    mandatory: bool = True


class Procedure(BaseModel):
    """An administrative procedure, petition, complaint or denunciation channel."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=_CODE_PATTERN)
    name_vi: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    kind: DossierKind
    sector: Sector
    agency: str
    online_level: OnlineLevel
    processing_days: int = Field(gt=0)
    clock: Clock = Clock.WORKING_DAYS
    # Complex complaints and extended denunciations get a longer statutory time.
    extended_processing_days: int | None = None
    # A leader signs off after the specialist's review (e.g. the provincial People's
    # Committee decides on land allocation); it is one more step in the workflow.
    extra_approval: bool = False
    fee_vnd: int = Field(default=0, ge=0)
    fee_note_vi: str | None = None
    fee_note_en: str | None = None
    legal_basis: str = Field(min_length=1)
    required_documents: list[RequiredDocument]
    form_schema: dict[str, Any]
    # The Law on Denunciation forbids revealing who denounced; every consumer must keep
    # the applicant out of notifications, logs and audit views without clearance.
    confidential_applicant: bool = False

    @field_validator("form_schema")
    @classmethod
    def _form_schema_is_valid(cls, schema: dict[str, Any]) -> dict[str, Any]:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as error:
            location = "/".join(str(part) for part in error.absolute_path) or "(root)"
            raise ValueError(
                f"form_schema is not valid JSON Schema 2020-12 at {location}: {error.message}"
            ) from None
        if schema.get("type") != "object":
            raise ValueError("form_schema must describe an object (type: object)")
        return schema

    @field_validator("required_documents")
    @classmethod
    def _document_codes_unique(cls, documents: list[RequiredDocument]) -> list[RequiredDocument]:
        seen: set[str] = set()
        for document in documents:
            if document.code in seen:
                raise ValueError(f"required document {document.code!r} is listed twice")
            seen.add(document.code)
        return documents

    @model_validator(mode="after")
    def _consistent(self) -> Procedure:
        if (
            self.extended_processing_days is not None
            and self.extended_processing_days <= self.processing_days
        ):
            raise ValueError("extended_processing_days must exceed processing_days")
        if self.kind is DossierKind.DENUNCIATION and not self.confidential_applicant:
            raise ValueError("a denunciation must keep the applicant confidential")
        if (self.fee_note_vi is None) != (self.fee_note_en is None):
            raise ValueError("fee notes must be given in both Vietnamese and English")
        return self
