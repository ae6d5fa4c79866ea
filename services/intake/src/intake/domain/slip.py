"""What the receipt-and-appointment slip says. Pure: no I/O, no clock, no PDF.

The one-stop desk hands the applicant a paper "Giấy tiếp nhận hồ sơ và hẹn trả kết quả"
(form 01 of Circular 01/2018/TT-VPCP, under Decree 61/2018/NĐ-CP): who received which
documents of which procedure, when, for which unit, and the day the result is due back.
This module computes those lines from the stored submission; an adapter lays them out.

The paper belongs to the applicant, so it carries his name, but never what opens the
dossier: no follow-up secret, no phone number, no citizen ID. A denouncer's name is not
printed either (the Law on Denunciation keeps it secret from everyone not cleared, and
the slip can be printed again by any officer of the unit).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from chassis.calendar import VN_TZ
from chassis.catalogue import Agency, Procedure

__all__ = ["TITLE", "Slip", "follow_up_target", "slip_of"]

TITLE = "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ"
_CHANNELS = {
    "counter": "Trực tiếp tại Bộ phận Một cửa",
    "post": "Qua dịch vụ bưu chính",
    "online": "Trực tuyến qua Cổng dịch vụ công",
    "phone": "Qua đường dây nóng (điện thoại)",
}
_CONFIDENTIAL = "Được giữ bí mật theo Luật Tố cáo"


@dataclass(frozen=True)
class Slip:
    """The slip's content, line by line, in Vietnamese."""

    department: str
    receiving_unit: str
    handling_unit: str
    receipt_code: str
    qr_content: str
    applicant: str
    procedure: str
    channel: str
    documents: tuple[str, ...]
    received_at: str
    appointment: str
    receiving_officer: str
    follow_up: tuple[str, ...]
    title: str = TITLE


def follow_up_target(receipt_code: str, follow_up_url: str | None) -> str:
    """What the QR code holds: the follow-up page of this dossier, or the bare code."""
    if follow_up_url is None:
        return receipt_code
    return follow_up_url.replace("{receipt_code}", receipt_code)


def _local(moment: datetime) -> datetime:
    # The store hands datetimes back without a zone; they are UTC.
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(VN_TZ)


def _day(day: date) -> str:
    return f"{day.day:02d}/{day.month:02d}/{day.year}"


def _documents(procedure: Procedure, attachments: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    names = {document.code: document.name_vi for document in procedure.required_documents}
    lines = []
    for attachment in attachments:
        code = str(attachment.get("document_code", ""))
        file_name = attachment.get("name")
        name = names.get(code, code)
        lines.append(f"{name} ({file_name})" if file_name else name)
    return tuple(lines) or ("Không có thành phần hồ sơ kèm theo",)


def _officer(actor: str, channel: str) -> str:
    """The subject of whoever keyed it (``desk:<sub>`` → ``<sub>``): an opaque id the
    department maps to its staff, never a name."""
    subject = actor.partition(":")[2] or actor
    if channel == "online":
        return f"Cổng dịch vụ công ({subject})"
    return subject


def _applicant(applicant: Mapping[str, Any]) -> str:
    if applicant.get("pseudonym"):
        return _CONFIDENTIAL
    return str(applicant.get("name") or "")


def slip_of(
    submission: Mapping[str, Any],
    procedure: Procedure,
    handling: Agency,
    receiving: Agency | None,
    *,
    department: str,
    follow_up_url: str | None,
) -> Slip:
    """The slip of an accepted submission as intake stored it (its ``event`` is the
    published ``dossier.submitted``)."""
    data: Mapping[str, Any] = submission["event"]["data"]
    receipt_code = str(submission["receipt_code"])
    channel = str(submission["channel"])
    received = _local(submission["received_at"])
    due = date.fromisoformat(str(submission["due_date"]))
    target = follow_up_target(receipt_code, follow_up_url)
    where = (
        f"quét mã QR hoặc truy cập {target}"
        if follow_up_url
        else "tại Cổng dịch vụ công hoặc tại Bộ phận Một cửa"
    )
    return Slip(
        department=department.upper(),
        receiving_unit=(receiving or handling).name_vi,
        handling_unit=handling.name_vi,
        receipt_code=receipt_code,
        qr_content=target,
        applicant=_applicant(data.get("applicant") or {}),
        procedure=f"{procedure.name_vi} ({procedure.code})",
        channel=_CHANNELS.get(channel, channel),
        documents=_documents(procedure, data.get("attachments") or []),
        received_at=f"{received.hour:02d} giờ {received.minute:02d} phút, ngày {_day(received)}",
        appointment=f"ngày {_day(due)}",
        receiving_officer=_officer(str(submission.get("actor", "")), channel),
        follow_up=(
            f"Tra cứu tình trạng hồ sơ {where}: nhập mã hồ sơ {receipt_code} cùng số điện "
            "thoại đã khai hoặc mã tra cứu được cấp khi tiếp nhận.",
            "Khi đến nhận kết quả, xin mang theo giấy này.",
        ),
    )
