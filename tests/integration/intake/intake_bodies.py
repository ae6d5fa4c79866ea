"""Valid submissions of each kind, for real catalogue procedures."""

from __future__ import annotations

import secrets
from typing import Any

from tests.support.documents import attachment_for


def unique_email(tag: str = "citizen") -> str:
    return f"{tag}.{secrets.token_hex(4)}@example.vn"


def attachment(document_code: str, size: int | None = None) -> dict[str, Any]:
    """The code's sample PDF, uploaded once per intake database (tests.support.documents);
    ``size`` declares another size, for the tests of the size limits."""
    found = attachment_for(document_code)
    if size is not None:
        found["size"] = size
    return found


def waste_registration(email: str | None = None, **changes: Any) -> dict[str, Any]:
    """MT-004, fully online, by an enterprise through the portal."""
    body: dict[str, Any] = {
        "procedure_code": "MT-004",
        "channel": "online",
        "applicant": {
            "type": "organisation",
            "name": "Công ty TNHH Giấy Hòa Bình",
            "id_number": "0101234567",
            "email": email or unique_email("enterprise"),
            "phone": "0912 345 678",
            "address": "KCN Lương Sơn, Hòa Bình",
        },
        "form": {
            "facility_name": "Nhà máy giấy Lương Sơn",
            "facility_address": "KCN Lương Sơn, Hòa Bình",
            "waste_items": [
                {
                    "waste_code": "16 01 06",
                    "name": "Bóng đèn huỳnh quang thải",
                    "state": "solid",
                    "quantity_kg_per_year": 120,
                }
            ],
        },
        "attachments": [attachment("application_form"), attachment("business_registration")],
    }
    body.update(changes)
    return body


def petition(email: str | None = None) -> dict[str, Any]:
    """PAKN-001, a citizen's petition, fully online."""
    return {
        "procedure_code": "PAKN-001",
        "channel": "online",
        "applicant": {
            "type": "person",
            "name": "Lê Thị Hoa",
            "id_number": "001199004321",
            "email": email or unique_email("petitioner"),
            "language": "vi",
        },
        "form": {
            "subject": "Khói bụi từ bãi tập kết vật liệu",
            "content": "Bãi tập kết cát tại tổ 5 gây bụi vào ban đêm.",
        },
        "content": "Đề nghị Sở kiểm tra và xử lý.",
    }


def complaint_at_counter() -> dict[str, Any]:
    """KN-001, partially online: keyed at the counter by an inspectorate officer."""
    return {
        "procedure_code": "KN-001",
        "channel": "counter",
        "applicant": {
            "type": "person",
            "name": "Phạm Văn Bình",
            "id_number": "031088009876",
            "phone": "0983 111 222",
            "address": "Thôn 3, xã Tân Minh",
        },
        "form": {
            "contested_kind": "administrative_decision",
            "decision_number": "125/QĐ-UBND",
            "decision_date": "2026-10-01",
            "issued_by": "UBND xã Tân Minh",
            "content": "Quyết định thu hồi đất không đúng diện tích.",
            "request": "Hủy quyết định số 125/QĐ-UBND.",
            "filed_in_court": False,
        },
        "attachments": [attachment("complaint_letter")],
        "content": "Khiếu nại lần đầu.",
    }


def land_change_at_counter() -> dict[str, Any]:
    """DD-002, partially online: keyed at the counter of the land registration office."""
    return {
        "procedure_code": "DD-002",
        "channel": "counter",
        "applicant": {
            "type": "person",
            "name": "Hoàng Minh Đức",
            "id_number": "024077001122",
            "phone": "0243 825 1234",
        },
        "form": {
            "certificate_serial": "CĐ 123456",
            "parcel": {
                "parcel_number": 45,
                "map_sheet": 12,
                "area_m2": 180.5,
                "address": "Phường Phú Lãm, Hà Đông",
                "land_use_purpose": "ODT",
            },
            "change_type": "holder_address",
            "change_description": "Thay đổi địa chỉ thường trú của người sử dụng đất.",
        },
        "attachments": [attachment("change_application_form")],
    }


def denunciation(name: str, id_number: str, phone: str, channel: str = "counter") -> dict[str, Any]:
    """TC-001: the denouncer's identity must stay inside intake."""
    return {
        "procedure_code": "TC-001",
        "channel": channel,
        "applicant": {
            "type": "person",
            "name": name,
            "id_number": id_number,
            "phone": phone,
            "email": unique_email("denouncer"),
            "address": "Số 7 ngõ 12 phố Huế, Hà Nội",
            "portal_account": "acct-7f3a",
        },
        "form": {
            "denounced_person_name": "Ông X",
            "denounced_unit": "Phòng Y",
            "violation_description": "Nhận tiền để bỏ qua vi phạm xả thải.",
            "occurred_on": "2026-09-15",
        },
        "attachments": [attachment("denunciation_letter")],
        "content": "Tố cáo hành vi nhận hối lộ.",
    }
