"""Wording of email and portal-inbox notices, in Vietnamese and English."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import jinja2
import pytest

from chassis.events import (
    DeliveryChannel,
    DossierKind,
    DossierOverdue,
    DossierStatus,
    EventType,
    Recipient,
)
from notification.domain.messages import (
    InvalidEventDataError,
    RenderedMessage,
    TemplateCatalogue,
    UnsupportedLanguageError,
    format_date,
    sample_data,
)
from notification.domain.policy import (
    NOTICE_TYPES,
    UnknownEventTypeError,
    UnknownStatusError,
    decide_channels,
)

STATUS_CHANGED = EventType.STATUS_CHANGED.value
OVERDUE = EventType.OVERDUE.value
APOLOGY = EventType.APOLOGY_ISSUED.value
ALL_EVENTS = [e.value for e in NOTICE_TYPES]
ALL_STATUSES = [s.value for s in DossierStatus]
LANGUAGES = ["vi", "en"]
RECEIPT = "000.00.12.H12-250317-0042"
LOOKUP = "https://dichvucong.tnmt.example/tra-cuu"

# Letters that only exist in Vietnamese with diacritics; at least one shows up
# in any real Vietnamese sentence ("hồ sơ", "được", "Kính gửi").
VIETNAMESE_LETTERS = re.compile(
    r"[ăâđêôơưĂÂĐÊÔƠƯàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ]"
)


@pytest.fixture(scope="module")
def catalogue() -> TemplateCatalogue:
    return TemplateCatalogue(lookup_url=LOOKUP)


def status_data(new_status: str, **overrides: Any) -> dict[str, Any]:
    data = sample_data(STATUS_CHANGED, new_status)
    data.update(overrides)
    return data


def event_cases() -> list[tuple[str, str | None]]:
    return [(STATUS_CHANGED, s) for s in ALL_STATUSES] + [(OVERDUE, None), (APOLOGY, None)]


def data_for(event_type: str, new_status: str | None) -> dict[str, Any]:
    return sample_data(event_type, new_status)


# --- every event, status and language renders -------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(("event_type", "new_status"), event_cases())
def test_email_renders_every_event_and_language(
    catalogue: TemplateCatalogue, event_type: str, new_status: str | None, language: str
) -> None:
    message = catalogue.render_email(event_type, data_for(event_type, new_status), language)

    assert isinstance(message, RenderedMessage)
    assert message.channel is DeliveryChannel.EMAIL
    assert message.subject
    assert "\n" not in message.subject
    assert RECEIPT in message.subject
    for body in (message.text, message.html):
        assert body is not None
        assert RECEIPT in body
        assert LOOKUP in body
    assert message.html is not None
    assert f'<html lang="{language}">' in message.html
    # Plain text is tidy: no runs of blank lines, no trailing spaces.
    assert "\n\n\n" not in message.text
    assert not re.search(r"[ \t]+\n", message.text)
    if language == "vi":
        assert VIETNAMESE_LETTERS.search(message.subject)
        assert VIETNAMESE_LETTERS.search(message.text)
        assert "Kính gửi Nguyễn Văn An," in message.text
        assert "tra cứu tình trạng hồ sơ" in message.text
    else:
        assert "Dear Nguyễn Văn An," in message.text
        assert "check the status of your dossier" in message.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_status_has_its_own_subject(catalogue: TemplateCatalogue, language: str) -> None:
    subjects = {
        catalogue.render_email(STATUS_CHANGED, status_data(s), language).subject
        for s in ALL_STATUSES
    }
    assert len(subjects) == len(ALL_STATUSES)


def test_language_defaults_to_recipient_preference(catalogue: TemplateCatalogue) -> None:
    data = status_data("received")
    data["recipient"] = {**data["recipient"], "language": "en"}
    assert catalogue.render_email(STATUS_CHANGED, data).text.startswith("Dear ")

    data["recipient"] = {**data["recipient"], "language": None}
    assert catalogue.render_email(STATUS_CHANGED, data).text.startswith("Kính gửi ")


# --- wording of each notice ---------------------------------------------------


def test_received_gives_appointment_date(catalogue: TemplateCatalogue) -> None:
    vi = catalogue.render_email(STATUS_CHANGED, status_data("received"), "vi")
    en = catalogue.render_email(STATUS_CHANGED, status_data("received"), "en")

    assert vi.subject == f"Hồ sơ {RECEIPT} đã được tiếp nhận – hẹn trả kết quả ngày 08/04/2025"
    assert "Sở Nông nghiệp và Môi trường đã tiếp nhận hồ sơ của Ông/Bà." in vi.text
    assert "Ngày hẹn trả kết quả: 08/04/2025." in vi.text
    assert "<strong>08/04/2025</strong>" in (vi.html or "")
    assert "Appointment date for the result: 08/04/2025." in en.text
    assert "2025-04-08" not in vi.text + en.text


def test_received_without_appointment_date(catalogue: TemplateCatalogue) -> None:
    message = catalogue.render_email(STATUS_CHANGED, status_data("received", due_date=None), "vi")
    assert message.subject == f"Hồ sơ {RECEIPT} đã được tiếp nhận"
    assert "Ngày hẹn trả" not in message.text


def test_supplement_request_lists_reason_and_documents(catalogue: TemplateCatalogue) -> None:
    data = status_data("supplement_requested")
    vi = catalogue.render_email(STATUS_CHANGED, data, "vi")
    en = catalogue.render_email(STATUS_CHANGED, data, "en")

    assert vi.subject == f"Yêu cầu bổ sung hồ sơ {RECEIPT}"
    assert "Đề nghị Ông/Bà bổ sung, hoàn thiện hồ sơ." in vi.text
    assert f"Lý do: {data['reason']}" in vi.text
    assert "Giấy tờ cần bổ sung:" in vi.text
    for document in data["missing_documents"]:
        assert f"\n- {document}\n" in vi.text
        assert f"<li>{document}</li>" in (vi.html or "")
        assert f"\n- {document}\n" in en.text
    assert en.subject == f"Additional documents required for dossier {RECEIPT}"
    assert "Documents required:" in en.text


def test_supplement_request_without_documents_or_reason(catalogue: TemplateCatalogue) -> None:
    data = status_data("supplement_requested", reason=None, missing_documents=None)
    message = catalogue.render_email(STATUS_CHANGED, data, "vi")
    assert "Lý do" not in message.text
    assert "Giấy tờ cần bổ sung" not in message.text
    assert "<ul>" not in (message.html or "")


def test_approved_gives_result_reference_and_date(catalogue: TemplateCatalogue) -> None:
    vi = catalogue.render_email(STATUS_CHANGED, status_data("approved"), "vi")
    en = catalogue.render_email(STATUS_CHANGED, status_data("approved"), "en")
    assert vi.subject == f"Hồ sơ {RECEIPT} đã có kết quả giải quyết"
    assert "Số hiệu văn bản kết quả: 125/GP-STNMT." in vi.text
    assert "Ngày hẹn trả kết quả: 08/04/2025." in vi.text
    assert "Result reference: 125/GP-STNMT." in en.text


def test_rejection_states_reason_and_right_to_complain(catalogue: TemplateCatalogue) -> None:
    data = status_data("rejected", reason="Khu vực đề nghị khai thác nằm trong vùng cấm khai thác.")
    vi = catalogue.render_email(STATUS_CHANGED, data, "vi")
    en = catalogue.render_email(STATUS_CHANGED, data, "en")
    assert vi.subject == f"Thông báo từ chối giải quyết hồ sơ {RECEIPT}"
    assert "Lý do: Khu vực đề nghị khai thác nằm trong vùng cấm khai thác." in vi.text
    assert "quyền khiếu nại" in vi.text
    assert "right to lodge a complaint" in en.text


def test_result_returned_and_withdrawn(catalogue: TemplateCatalogue) -> None:
    returned = catalogue.render_email(STATUS_CHANGED, status_data("result_returned"), "vi")
    assert "Kết quả giải quyết hồ sơ đã được trả cho Ông/Bà." in returned.text
    assert "125/GP-STNMT" in returned.text
    # Without an issued document (a rejection's notice) nothing is said of one.
    assert "SHA-256" not in returned.text

    signed = status_data("result_returned", result_sha256="ab" * 32)
    vi, en = (catalogue.render_email(STATUS_CHANGED, signed, lang) for lang in ("vi", "en"))
    assert "Văn bản kết quả điện tử có chữ ký số" in vi.text
    assert "ab" * 32 in vi.text
    assert "ab" * 32 in en.text
    assert "digitally signed result document" in en.text

    withdrawn = catalogue.render_email(
        STATUS_CHANGED, status_data("withdrawn", reason="Công dân đề nghị rút để nộp lại"), "vi"
    )
    assert withdrawn.subject == f"Xác nhận rút hồ sơ {RECEIPT}"
    assert "hồ sơ đã được rút" in withdrawn.text
    assert "Ghi chú: Công dân đề nghị rút để nộp lại" in withdrawn.text


def test_update_time_is_shown_in_vietnam_time(catalogue: TemplateCatalogue) -> None:
    # 02:15 UTC is 09:15 in Vietnam (UTC+7).
    vi = catalogue.render_email(STATUS_CHANGED, status_data("in_review"), "vi")
    assert "Thời điểm cập nhật: 09:15 ngày 20/03/2025" in vi.text


def test_overdue_notice_apologises(catalogue: TemplateCatalogue) -> None:
    vi = catalogue.render_email(OVERDUE, sample_data(OVERDUE), "vi")
    en = catalogue.render_email(OVERDUE, sample_data(OVERDUE), "en")
    assert "xin lỗi" in vi.subject.lower()
    assert "ngày hẹn trả kết quả là 08/04/2025" in vi.text
    assert "thành thật xin lỗi Ông/Bà vì sự chậm trễ này" in vi.text
    assert "was due on 08/04/2025" in en.text
    assert "apologise" in en.text


def test_apology_slip_gives_old_and_new_dates(catalogue: TemplateCatalogue) -> None:
    data = sample_data(APOLOGY)
    vi = catalogue.render_email(APOLOGY, data, "vi")
    en = catalogue.render_email(APOLOGY, data, "en")

    assert vi.subject == f"Phiếu xin lỗi và hẹn lại ngày trả kết quả – hồ sơ {RECEIPT}"
    assert "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ" in vi.text
    assert "- Ngày hẹn trả kết quả cũ: 08/04/2025" in vi.text
    assert "- Ngày hẹn trả kết quả mới: 22/04/2025" in vi.text
    assert f"Lý do: {data['reason']}" in vi.text
    assert "hẹn lại ngày trả kết quả là <strong>22/04/2025</strong>" in (vi.html or "")
    assert "The new appointment date for the result is 22/04/2025." in en.text


def test_dates_given_as_timestamps_use_the_vietnamese_calendar_day(
    catalogue: TemplateCatalogue,
) -> None:
    # 20:00 UTC on 8 April is already 9 April in Vietnam.
    data = status_data("received", due_date="2025-04-08T20:00:00Z")
    assert "Ngày hẹn trả kết quả: 09/04/2025." in catalogue.render_email(STATUS_CHANGED, data).text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-01-05", "05/01/2025"),
        ("2025-12-31T18:30:00+00:00", "01/01/2026"),
        (None, ""),
    ],
)
def test_format_date(value: str | None, expected: str) -> None:
    assert format_date(value) == expected


# --- escaping and confidentiality --------------------------------------------


def test_html_escapes_officer_text_and_plain_text_keeps_it(catalogue: TemplateCatalogue) -> None:
    hostile = "<script>alert('x')</script> & <b>gấp</b>"
    data = status_data(
        "supplement_requested",
        reason=hostile,
        missing_documents=["<img src=x onerror=alert(1)>"],
    )
    data["recipient"] = {**data["recipient"], "display_name": "<i>Trần</i> Thị B"}
    message = catalogue.render_email(STATUS_CHANGED, data, "vi")

    assert message.html is not None
    assert "<script>" not in message.html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;gấp&lt;/b&gt;" in (
        message.html
    )
    assert "<img" not in message.html
    assert "&lt;i&gt;Trần&lt;/i&gt; Thị B" in message.html
    # Plain text is not markup: the reason appears exactly as the officer typed it.
    assert f"Lý do: {hostile}" in message.text
    assert "Kính gửi <i>Trần</i> Thị B," in message.text


def test_subject_cannot_carry_a_header_break(catalogue: TemplateCatalogue) -> None:
    data = status_data("received", receipt_code="H12-1\r\nBcc: attacker@example.com")
    subject = catalogue.render_email(STATUS_CHANGED, data, "vi").subject
    assert subject is not None
    assert "\r" not in subject
    assert "\n" not in subject


def denunciation_data(event_type: str, new_status: str | None) -> dict[str, Any]:
    data = data_for(event_type, new_status)
    data["recipient"] = {
        "display_name": None,
        "email": "to-cao-7f3a@hop-thu-an-danh.example.vn",
        "phone": "0987654321",
        "language": "vi",
        "sms_opt_out": False,
        "portal_account": "pseudo-7f3a9c",
    }
    return data


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(("event_type", "new_status"), event_cases())
def test_denunciation_is_greeted_neutrally_and_identifies_no_one(
    catalogue: TemplateCatalogue, event_type: str, new_status: str | None, language: str
) -> None:
    data = denunciation_data(event_type, new_status)
    email = catalogue.render_email(event_type, data, language)
    sms = catalogue.render_sms(event_type, data, language)
    inbox = catalogue.render_webhook(event_type, data, language)

    everything = "\n".join(
        [
            email.subject or "",
            email.text,
            email.html or "",
            sms.text,
            *(str(value) for value in inbox.values()),
        ]
    )
    for identifying in ("to-cao-7f3a", "hop-thu-an-danh", "0987654321", "987654321", "7f3a9c"):
        assert identifying not in everything
    assert "Nguyễn Văn An" not in everything
    greeting = "Kính gửi Quý công dân," if language == "vi" else "Dear citizen,"
    assert email.text.startswith(greeting)
    assert f"<p>{greeting}</p>" in (email.html or "")
    # What may be shown: the receipt code and the procedure.
    assert RECEIPT in email.text


# --- portal inbox, catalogue listing and previews ----------------------------


def test_webhook_item_for_the_portal_inbox(catalogue: TemplateCatalogue) -> None:
    data = status_data("supplement_requested")
    item = catalogue.render_webhook(STATUS_CHANGED, data, "vi")
    email = catalogue.render_email(STATUS_CHANGED, data, "vi")

    assert item["event_type"] == STATUS_CHANGED
    assert item["dossier_id"] == data["dossier_id"]
    assert item["receipt_code"] == RECEIPT
    assert item["status"] == "supplement_requested"
    assert item["language"] == "vi"
    assert item["title"] == email.subject
    assert item["body"].startswith("Qua kiểm tra, hồ sơ của Ông/Bà chưa đầy đủ")
    assert "Kính gửi" not in item["body"]
    for document in data["missing_documents"]:
        assert f"- {document}" in item["body"]


@pytest.mark.parametrize("event_type", [OVERDUE, APOLOGY])
def test_webhook_item_without_status(catalogue: TemplateCatalogue, event_type: str) -> None:
    item = catalogue.render_webhook(event_type, sample_data(event_type), "en")
    assert item["status"] is None
    assert item["receipt_code"] == RECEIPT
    assert item["body"]


def test_list_templates_covers_every_event_language_and_channel(
    catalogue: TemplateCatalogue,
) -> None:
    listing = catalogue.list_templates()
    assert {(row["event_type"], row["language"]) for row in listing} == {
        (event, language) for event in ALL_EVENTS for language in LANGUAGES
    }
    for row in listing:
        assert row["channels"] == ["email", "sms", "webhook"]


@pytest.mark.parametrize("channel", ["email", "sms", "webhook"])
@pytest.mark.parametrize("event_type", ALL_EVENTS)
def test_preview_with_sample_data(
    catalogue: TemplateCatalogue, event_type: str, channel: str
) -> None:
    preview = catalogue.preview(event_type, "vi", channel)
    assert preview.channel == channel
    assert RECEIPT in f"{preview.subject} {preview.text}"
    if channel == "email":
        assert preview.html
    if channel == "webhook":
        assert preview.subject
        assert preview.html is None


def test_preview_status_and_overrides(catalogue: TemplateCatalogue) -> None:
    preview = catalogue.preview(
        STATUS_CHANGED,
        "en",
        DeliveryChannel.EMAIL,
        new_status="rejected",
        data={"reason": "Out of scope"},
    )
    assert preview.subject == f"Dossier {RECEIPT} has been rejected"
    assert "Reason: Out of scope" in preview.text


def test_preview_with_own_data(catalogue: TemplateCatalogue) -> None:
    own = status_data("received", receipt_code="000.00.12.H12-250401-0001")
    preview = catalogue.preview(STATUS_CHANGED, "vi", "sms", sample=False, data=own)
    assert "000.00.12.H12-250401-0001" in preview.text
    with pytest.raises(InvalidEventDataError):
        catalogue.preview(STATUS_CHANGED, "vi", "sms", sample=False)


# --- errors --------------------------------------------------------------------


def test_unknown_event_type_is_refused_clearly(catalogue: TemplateCatalogue) -> None:
    with pytest.raises(UnknownEventTypeError, match=r"dossier\.archived\.v1"):
        catalogue.render_email("dossier.archived.v1", status_data("received"), "vi")


def test_unknown_status_is_refused_clearly(catalogue: TemplateCatalogue) -> None:
    with pytest.raises(UnknownStatusError, match="archived"):
        catalogue.render_email(
            STATUS_CHANGED, {**status_data("received"), "new_status": "archived"}
        )


def test_unsupported_language_is_refused(catalogue: TemplateCatalogue) -> None:
    with pytest.raises(UnsupportedLanguageError, match="fr"):
        catalogue.render_email(STATUS_CHANGED, status_data("received"), "fr")


def test_recipient_language_tag_falls_back_to_vietnamese(catalogue: TemplateCatalogue) -> None:
    data = status_data("received")
    data["recipient"] = {**data["recipient"], "language": "fr-FR"}
    assert catalogue.render_email(STATUS_CHANGED, data).text.startswith("Kính gửi")
    data["recipient"] = {**data["recipient"], "language": "en-GB"}
    assert catalogue.render_email(STATUS_CHANGED, data).text.startswith("Dear")


def test_missing_field_is_reported_as_invalid_event_data(catalogue: TemplateCatalogue) -> None:
    data = status_data("received")
    del data["receipt_code"]
    with pytest.raises(InvalidEventDataError, match="receipt_code"):
        catalogue.render_email(STATUS_CHANGED, data, "vi")
    with pytest.raises(InvalidEventDataError, match="new_due_date"):
        catalogue.render_email(APOLOGY, {**sample_data(APOLOGY), "new_due_date": None}, "vi")


def test_extra_event_fields_are_ignored(catalogue: TemplateCatalogue) -> None:
    # A field a later version of the contract adds must not stop a notice.
    data = status_data("received", channel_hint="sms", priority=2)
    data["recipient"] = {**data["recipient"], "preferred_hours": "8-17"}
    assert catalogue.render_email(STATUS_CHANGED, data, "vi").subject


def test_misspelt_template_variable_fails_loudly() -> None:
    loader = jinja2.DictLoader({"vi/overdue.subject.txt": "Hồ sơ {{ receipt_cod }}"})
    catalogue = TemplateCatalogue(loader=loader)
    with pytest.raises(jinja2.UndefinedError, match="receipt_cod"):
        catalogue.render_webhook(OVERDUE, sample_data(OVERDUE), "vi")


def test_lookup_url_must_suit_sms() -> None:
    with pytest.raises(ValueError, match="lookup_url"):
        TemplateCatalogue(lookup_url="https://example.vn/" + "x" * 80)
    with pytest.raises(ValueError, match="ASCII"):
        TemplateCatalogue(lookup_url="https://dịchvụcông.example/tra-cứu")


def test_event_contract_models_are_accepted(catalogue: TemplateCatalogue) -> None:
    event = DossierOverdue(
        dossier_id="8f14e45f",
        receipt_code=RECEIPT,
        procedure_code="1.004228",
        procedure_name_vi="Cấp giấy phép khai thác, sử dụng nước dưới đất",
        procedure_name_en="Licence for groundwater extraction and use",
        agency="H12.45",
        agency_name_vi="Sở Tài nguyên và Môi trường",
        agency_name_en="Department of Natural Resources and Environment",
        kind=DossierKind.PROCEDURE,
        due_date=date(2025, 4, 8),
        detected_at=datetime(2025, 4, 9, 1, 0, tzinfo=UTC),
        recipient=Recipient(display_name="Phạm Thị Lan", language="en"),
    )
    message = catalogue.render_email(OVERDUE, event)
    assert message.text.startswith("Dear Phạm Thị Lan,")
    assert "was due on 08/04/2025" in message.text
    assert decide_channels(OVERDUE, None, event.recipient) == []
