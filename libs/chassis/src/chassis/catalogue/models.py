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
    "Department",
    "DossierKind",
    "OnlineLevel",
    "OnlineSteps",
    "Procedure",
    "RequiredDocument",
    "ResultDocument",
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
    """How far a procedure can be carried out online (Decree 42/2022/NĐ-CP, Art. 11).

    FULL is dịch vụ công trực tuyến toàn trình: every step, the result included, happens
    online. PARTIAL is dịch vụ công trực tuyến một phần: the dossier is lodged online, but
    some step (paying, receiving the result) happens in person. Both accept online
    lodging. NONE is a procedure offered at the counter and by post only; the old
    "level 2" (forms published for information) is NONE, the old "level 3" roughly
    PARTIAL and the old "level 4" FULL.
    """

    FULL = "full"
    PARTIAL = "partial"
    NONE = "none"


class Clock(StrEnum):
    """Whether the statutory time counts working days or calendar days.

    Administrative procedures count working days; the Law on Complaints and the Law on
    Denunciation count calendar days from acceptance (thụ lý).
    """

    WORKING_DAYS = "working_days"
    CALENDAR_DAYS = "calendar_days"


_CODE_PATTERN = r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*$"
_DOCUMENT_CODE_PATTERN = r"^[a-z][a-z0-9_]*$"


class OnlineSteps(BaseModel):
    """Which steps of a procedure the applicant can take without coming to the counter.

    ``payment`` is true when the fee is paid online or there is nothing to pay: either
    way the applicant need not come in to pay.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    lodging: bool
    payment: bool
    result: bool

    @classmethod
    def of_level(cls, level: OnlineLevel) -> OnlineSteps:
        """What a level implies when the catalogue does not spell the steps out: a
        partially online procedure is lodged online and the rest happens in person."""
        online = level is OnlineLevel.FULL
        return cls(lodging=level is not OnlineLevel.NONE, payment=online, result=online)


class Department(BaseModel):
    """The department that publishes the catalogue; a name a merger can change."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name_vi: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    # The rules every procedure follows (one-stop mechanism, online services), cited once.
    legal_basis: str | None = None


# Since 1 March 2025 the provincial Departments of Natural Resources and Environment and
# of Agriculture and Rural Development are one department.
DEFAULT_DEPARTMENT = Department(
    name_vi="Sở Nông nghiệp và Môi trường", name_en="Department of Agriculture and Environment"
)


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


class ResultDocument(BaseModel):
    """The document an approved dossier ends in (giấy phép, giấy chứng nhận, quyết định):
    its title and body, in which ``{agency}``, ``{receipt_code}``, ``{applicant}``,
    ``{procedure}``, ``{decision_number}``, ``{decision_date}`` and ``{legal_basis}``
    are filled in when it is issued. Vietnamese; English for an applicant who asked."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title_vi: str = Field(min_length=1, max_length=200)
    title_en: str = Field(min_length=1, max_length=200)
    body_vi: str = Field(min_length=1, max_length=5000)
    body_en: str = Field(min_length=1, max_length=5000)


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
    # Spelt out per procedure; left out, what the level implies (`OnlineSteps.of_level`,
    # filled in by `_default_online_steps` before validation).
    online_steps: OnlineSteps
    processing_days: int = Field(gt=0)
    clock: Clock = Clock.WORKING_DAYS
    # The longest statutory time, extensions included: a complex complaint's (Law on
    # Complaints 2011, Art. 28, 37), or a denunciation's with every extension it may get
    # (Law on Denunciation 2018, Art. 30).
    extended_processing_days: int | None = Field(default=None, gt=0)
    # Complaints and denunciations: the time from receipt to the decision to accept
    # (thụ lý), from which processing_days run.
    acceptance_days: int | None = Field(default=None, gt=0)
    acceptance_clock: Clock = Clock.WORKING_DAYS
    # Complaints in remote areas with difficult travel get longer limits.
    remote_area_processing_days: int | None = Field(default=None, gt=0)
    remote_area_extended_processing_days: int | None = Field(default=None, gt=0)
    # Denunciations: each extension adds extension_days, at most max_extensions times.
    extension_days: int | None = Field(default=None, gt=0)
    max_extensions: int = Field(default=0, ge=0)
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
    # The signed result an approval issues; left out, intake's default for the kind.
    result_document: ResultDocument | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_online_steps(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("online_steps") is None:
            try:
                level = OnlineLevel(str(data.get("online_level")))
            except ValueError:
                return data  # the level's own error says what is wrong
            return {**data, "online_steps": OnlineSteps.of_level(level)}
        return data

    @property
    def accepts_online_lodging(self) -> bool:
        """Whether the dossier may be lodged online: both levels of Decree 42/2022 allow it."""
        return self.online_steps.lodging

    @property
    def has_acceptance_step(self) -> bool:
        """Complaints and denunciations are first accepted (thụ lý), then settled."""
        return self.kind in _ACCEPTED_KINDS

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
        problems = [
            *_online_problems(self.online_level, self.online_steps),
            *_time_limit_problems(self),
        ]
        if self.kind is DossierKind.DENUNCIATION and not self.confidential_applicant:
            problems.append(
                "confidential_applicant: a denunciation must keep the applicant confidential"
            )
        if (self.fee_note_vi is None) != (self.fee_note_en is None):
            problems.append("fee_note_en: fee notes must be given in both Vietnamese and English")
        if problems:
            # One error carrying every problem: the loader splits it by line, so an editor
            # sees all of an entry's faults at once, each with its field.
            raise ValueError("\n".join(problems))
        return self


_ACCEPTED_KINDS = frozenset({DossierKind.COMPLAINT, DossierKind.DENUNCIATION})


def _online_problems(level: OnlineLevel, steps: OnlineSteps) -> list[str]:
    """Decree 42/2022/NĐ-CP, Art. 11: what each level means for the three steps."""
    online = [steps.lodging, steps.payment, steps.result]
    if level is OnlineLevel.FULL and not all(online):
        return ["online_steps: a fully online procedure (toàn trình) takes every step online"]
    if level is OnlineLevel.PARTIAL:
        if not steps.lodging:
            return ["online_steps.lodging: a partly online procedure (một phần) is lodged online"]
        if all(online):
            return [
                "online_steps: a partly online procedure (một phần) keeps at least one step "
                "(payment or result) in person; otherwise its level is full"
            ]
    if level is OnlineLevel.NONE and any(online):
        return ["online_steps: a procedure not offered online takes no step online"]
    return []


def _time_limit_problems(p: Procedure) -> list[str]:
    """Complaint and denunciation time limits hang together (see docs/catalogue.md)."""
    found: list[str] = []
    accepted = p.kind in _ACCEPTED_KINDS
    if p.extended_processing_days is not None and p.extended_processing_days <= p.processing_days:
        found.append("extended_processing_days: must exceed processing_days")
    if accepted and p.acceptance_days is None:
        found.append(f"acceptance_days: a {p.kind.value} is accepted (thụ lý) within a time limit")
    if not accepted and p.acceptance_days is not None:
        found.append("acceptance_days: only complaints and denunciations have an acceptance step")
    found.extend(_remote_area_problems(p))
    if (p.extension_days is None) != (p.max_extensions == 0):
        found.append("max_extensions: extension_days and max_extensions come together")
    elif p.extension_days is not None:
        if p.kind is not DossierKind.DENUNCIATION:
            found.append("extension_days: only denunciations are extended by a number of days")
        total = p.processing_days + p.extension_days * p.max_extensions
        if p.extended_processing_days != total:
            found.append(
                f"extended_processing_days: must be processing_days + extension_days × "
                f"max_extensions = {total}"
            )
    return found


def _remote_area_problems(p: Procedure) -> list[str]:
    """Law on Complaints 2011, Art. 28 and 37: longer limits in remote areas."""
    normal, longer = p.remote_area_processing_days, p.remote_area_extended_processing_days
    if normal is None and longer is None:
        return []
    if p.kind is not DossierKind.COMPLAINT:
        return ["remote_area_processing_days: only complaints have remote-area limits"]
    if normal is None or longer is None or p.extended_processing_days is None:
        return [
            "remote_area_extended_processing_days: remote-area limits come as a pair, "
            "with extended_processing_days"
        ]
    found: list[str] = []
    if normal < p.processing_days:
        found.append("remote_area_processing_days: must not be shorter than processing_days")
    if longer <= normal:
        found.append(
            "remote_area_extended_processing_days: must exceed remote_area_processing_days"
        )
    if longer < p.extended_processing_days:
        found.append(
            "remote_area_extended_processing_days: must not be shorter than "
            "extended_processing_days"
        )
    return found
