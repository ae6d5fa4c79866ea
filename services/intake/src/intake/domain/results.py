"""What an approved dossier's result document says. Pure: no I/O, no clock.

The catalogue gives a procedure's title and body (`chassis.catalogue.ResultDocument`);
a procedure without one gets the default of its kind below. The placeholders are filled
from the approval and the catalogue alone, so a redelivered approval words the very same
document. Vietnamese unless the applicant asked for English.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from chassis.calendar import VN_TZ
from chassis.catalogue import DossierKind, Procedure, ResultDocument

__all__ = [
    "DEFAULT_RESULTS",
    "ResultText",
    "decision_number",
    "result_event_id",
    "result_template",
    "result_text",
]

_PROCEDURE_BODY_VI = (
    "Căn cứ {legal_basis};\n"
    "Xét hồ sơ số {receipt_code} của {applicant} về thủ tục {procedure};\n"
    "{agency} QUYẾT ĐỊNH:\n"
    "Điều 1. Chấp thuận hồ sơ số {receipt_code} của {applicant} theo thủ tục {procedure}.\n"
    "Điều 2. Quyết định này có hiệu lực kể từ ngày ký. {applicant} và các cơ quan, "
    "đơn vị có liên quan chịu trách nhiệm thi hành Quyết định này."
)
_PROCEDURE_BODY_EN = (
    "Having regard to {legal_basis};\n"
    "Having examined dossier {receipt_code} of {applicant} under the procedure {procedure};\n"
    "{agency} DECIDES:\n"
    "Article 1. Dossier {receipt_code} of {applicant} under the procedure {procedure} is "
    "approved.\n"
    "Article 2. This decision takes effect on the date of signature."
)
_ANSWER_BODY_VI = (
    "Căn cứ {legal_basis};\n"
    "{agency} đã xem xét đơn số {receipt_code} của {applicant} ({procedure}) và "
    "giải quyết theo quy định của pháp luật. Văn bản này là kết quả giải quyết đơn."
)
_ANSWER_BODY_EN = (
    "Having regard to {legal_basis};\n"
    "{agency} has examined application {receipt_code} of {applicant} ({procedure}) and "
    "settled it as the law provides. This document is the result."
)

# What a kind's result is called when the catalogue does not say.
DEFAULT_RESULTS: dict[DossierKind, ResultDocument] = {
    DossierKind.PROCEDURE: ResultDocument(
        title_vi="QUYẾT ĐỊNH CHẤP THUẬN HỒ SƠ",
        title_en="DECISION OF APPROVAL",
        body_vi=_PROCEDURE_BODY_VI,
        body_en=_PROCEDURE_BODY_EN,
    ),
    DossierKind.PETITION: ResultDocument(
        title_vi="VĂN BẢN TRẢ LỜI KIẾN NGHỊ",
        title_en="ANSWER TO A PETITION",
        body_vi=_ANSWER_BODY_VI,
        body_en=_ANSWER_BODY_EN,
    ),
    DossierKind.COMPLAINT: ResultDocument(
        title_vi="QUYẾT ĐỊNH GIẢI QUYẾT KHIẾU NẠI",
        title_en="DECISION ON A COMPLAINT",
        body_vi=_ANSWER_BODY_VI,
        body_en=_ANSWER_BODY_EN,
    ),
    DossierKind.DENUNCIATION: ResultDocument(
        title_vi="KẾT LUẬN NỘI DUNG TỐ CÁO",
        title_en="CONCLUSION ON A DENUNCIATION",
        body_vi=_ANSWER_BODY_VI,
        body_en=_ANSWER_BODY_EN,
    ),
}
_RESULT_NAMESPACE = uuid.UUID("2b0e51c4-6f0a-4c55-8f0e-9d7f3c1a5e21")


@dataclass(frozen=True)
class ResultText:
    """Everything the result document prints, filled in."""

    language: Literal["vi", "en"]
    agency: str
    title: str
    body: str
    receipt_code: str
    applicant: str
    decision_number: str
    decision_date: str
    legal_basis: str
    place_and_date: str


def result_template(procedure: Procedure) -> ResultDocument:
    return procedure.result_document or DEFAULT_RESULTS[procedure.kind]


def decision_number(receipt_code: str, agency: str, reference: str | None) -> str:
    """The officer's reference when the approval gave one, else one made from the
    receipt code (unique per dossier, the same on every redelivery)."""
    return reference or f"{receipt_code}/QĐ-{agency}"


def result_event_id(dossier_id: str) -> str:
    """One result per dossier, so one event id: a redelivered approval republishes it."""
    return str(uuid.uuid5(_RESULT_NAMESPACE, f"{dossier_id}/result"))


def result_text(
    procedure: Procedure,
    *,
    language: Literal["vi", "en"],
    agency_name: str,
    procedure_name: str,
    receipt_code: str,
    applicant: str,
    number: str,
    decided_at: datetime,
) -> ResultText:
    template = result_template(procedure)
    day = decided_at.astimezone(VN_TZ).date()
    if language == "en":
        decision_date = day.strftime("%d %B %Y")
        title, body = template.title_en, template.body_en
        place_and_date = f"Hanoi, {decision_date}"
    else:
        decision_date = f"ngày {day.day:02d} tháng {day.month:02d} năm {day.year}"
        title, body = template.title_vi, template.body_vi
        place_and_date = f"Hà Nội, {decision_date}"
    values = {
        "agency": agency_name,
        "receipt_code": receipt_code,
        "applicant": applicant,
        "procedure": procedure_name,
        "decision_number": number,
        "decision_date": decision_date,
        "legal_basis": procedure.legal_basis,
    }
    return ResultText(
        language=language,
        agency=agency_name,
        title=_fill(title, values),
        body=_fill(body, values),
        receipt_code=receipt_code,
        applicant=applicant,
        decision_number=number,
        decision_date=decision_date,
        legal_basis=procedure.legal_basis,
        place_and_date=place_and_date,
    )


def _fill(template: str, values: dict[str, str]) -> str:
    # Only the known placeholders: a brace the catalogue meant literally stays.
    text = template
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text
