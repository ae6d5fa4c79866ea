"""SMS wording: GSM-safe, within the segment budget, never losing the essentials."""

from __future__ import annotations

import re
from typing import Any

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chassis.events import DossierStatus, EventType
from notification.domain.messages import (
    SMS_MAX_CHARS,
    TemplateCatalogue,
    sample_data,
    sms_segments,
    to_gsm_text,
)

STATUS_CHANGED = EventType.STATUS_CHANGED.value
OVERDUE = EventType.OVERDUE.value
APOLOGY = EventType.APOLOGY_ISSUED.value
LOOKUP = "https://dichvucong.tnmt.example/tra-cuu"
LANGUAGES = ["vi", "en"]

# GSM 03.38 basic alphabet restricted to ASCII: one septet per character.
GSM_SAFE = re.compile(r"^[A-Za-z0-9 !\"#$%&'()*+,\-./:;<=>?@_]*$")

# The longest data seen in practice: a land-registration procedure whose
# official name runs to a paragraph, an agency with a long name, a reason
# written out in full and a long list of missing papers.
LONG_RECEIPT = "000.00.21.H56-251231-99999"
LONG_PROCEDURE_VI = (
    "Đăng ký đất đai, tài sản gắn liền với đất, cấp Giấy chứng nhận quyền sử dụng đất, "
    "quyền sở hữu nhà ở và tài sản khác gắn liền với đất lần đầu đối với tổ chức, cơ sở "
    "tôn giáo; tổ chức nước ngoài có chức năng ngoại giao; người Việt Nam định cư ở nước "
    "ngoài thực hiện dự án đầu tư; tổ chức nước ngoài, cá nhân nước ngoài, doanh nghiệp có "
    "vốn đầu tư nước ngoài"
)
LONG_PROCEDURE_EN = (
    "First-time land registration and issuance of the certificate of land use rights, "
    "ownership of houses and other assets attached to land for organisations, religious "
    "establishments, foreign diplomatic organisations, overseas Vietnamese and foreign-"
    "invested enterprises carrying out investment projects"
)
LONG_REASON = (
    "Hồ sơ thiếu bản vẽ trích đo địa chính thửa đất có xác nhận của Văn phòng Đăng ký đất "
    "đai; diện tích ghi trong đơn đăng ký không khớp với diện tích đo đạc thực tế (chênh "
    "lệch 35,6 m²); chưa có văn bản xác nhận của Ủy ban nhân dân cấp xã về nguồn gốc, thời "
    "điểm sử dụng đất."
)
LONG_DOCUMENTS = [
    "Đơn đăng ký đất đai, tài sản gắn liền với đất theo Mẫu số 04a/ĐK",
    "Bản vẽ trích đo địa chính thửa đất có xác nhận của Văn phòng Đăng ký đất đai",
    "Giấy tờ về quyền sử dụng đất theo Điều 137 Luật Đất đai (bản sao có chứng thực)",
    "Chứng từ thực hiện nghĩa vụ tài chính về đất đai",
    "Quyết định phê duyệt chủ trương đầu tư của Ủy ban nhân dân tỉnh",
    "Văn bản ủy quyền nộp hồ sơ (nếu có)",
]


def longest_data(event_type: str, new_status: str | None) -> dict[str, Any]:
    data = sample_data(event_type, new_status)
    data.update(
        receipt_code=LONG_RECEIPT,
        procedure_name_vi=LONG_PROCEDURE_VI,
        procedure_name_en=LONG_PROCEDURE_EN,
        agency_name_vi="Văn phòng Đăng ký đất đai thuộc Sở Tài nguyên và Môi trường",
        agency_name_en="Land Registration Office of the Department of Natural Resources",
        reason=LONG_REASON,
    )
    if event_type == STATUS_CHANGED:
        data.update(missing_documents=LONG_DOCUMENTS, result_reference="12345/QĐ-STNMT-ĐKĐĐ")
    return data


def event_cases() -> list[tuple[str, str | None]]:
    return [(STATUS_CHANGED, s.value) for s in DossierStatus] + [(OVERDUE, None), (APOLOGY, None)]


@pytest.fixture(scope="module")
def catalogue() -> TemplateCatalogue:
    return TemplateCatalogue(lookup_url=LOOKUP)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(("event_type", "new_status"), event_cases())
def test_sms_with_realistic_data(
    catalogue: TemplateCatalogue, event_type: str, new_status: str | None, language: str
) -> None:
    sms = catalogue.render_sms(event_type, sample_data(event_type, new_status), language)

    assert sms.subject is None
    assert sms.html is None
    assert GSM_SAFE.match(sms.text), sms.text
    assert "000.00.12.H12-250317-0042" in sms.text
    assert sms.text.endswith(LOOKUP)
    assert len(sms.text) <= SMS_MAX_CHARS[language]
    assert sms_segments(sms.text) <= (2 if language == "vi" else 1)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(("event_type", "new_status"), event_cases())
def test_sms_with_longest_data_fits_and_keeps_essentials(
    catalogue: TemplateCatalogue, event_type: str, new_status: str | None, language: str
) -> None:
    sms = catalogue.render_sms(event_type, longest_data(event_type, new_status), language)

    assert GSM_SAFE.match(sms.text), sms.text
    assert len(sms.text) <= SMS_MAX_CHARS[language], (len(sms.text), sms.text)
    assert sms_segments(sms.text) <= (2 if language == "vi" else 1)
    # Never cut: the code to quote, the dates and where to look it up.
    assert LONG_RECEIPT in sms.text
    assert sms.text.endswith(f" {LOOKUP}")
    if event_type == APOLOGY:
        assert "08/04/2025" in sms.text
        assert "22/04/2025" in sms.text
    if event_type == OVERDUE or new_status == "received":
        assert "08/04/2025" in sms.text
    assert "...." not in sms.text


def test_vietnamese_sms_has_no_diacritics_but_reads_naturally(
    catalogue: TemplateCatalogue,
) -> None:
    sms = catalogue.render_sms(STATUS_CHANGED, sample_data(STATUS_CHANGED, "received"), "vi")
    assert sms.text.isascii()
    assert sms.text == (
        "Ho so 000.00.12.H12-250317-0042 (Cap giay phep khai thac, su dung nuoc duoi dat) "
        "da duoc tiep nhan. Hen tra ket qua ngay 08/04/2025. "
        f"Tra cuu: {LOOKUP}"
    )


def test_supplement_sms_names_the_documents_and_reason(catalogue: TemplateCatalogue) -> None:
    data = sample_data(STATUS_CHANGED, "supplement_requested")
    data["missing_documents"] = ["Bản sao CCCD", "Sơ đồ thửa đất"]
    sms = catalogue.render_sms(STATUS_CHANGED, data, "vi")
    assert "can bo sung: Ban sao CCCD; So do thua dat." in sms.text
    assert "Ly do: Ban ve vi tri gieng khoan chua co chu ky cua don vi tu van." in sms.text


def test_long_free_text_is_shortened_with_an_ellipsis(catalogue: TemplateCatalogue) -> None:
    sms = catalogue.render_sms(
        STATUS_CHANGED, longest_data(STATUS_CHANGED, "supplement_requested"), "vi"
    )
    assert "..." in sms.text
    assert "Ho so 000.00.21.H56-251231-99999 (Dang ky dat dai" in sms.text
    assert "can bo sung: Don dang ky dat dai" in sms.text
    assert "Ly do: Ho so thieu ban ve" in sms.text


def test_english_rejection_keeps_the_reason_when_it_fits(catalogue: TemplateCatalogue) -> None:
    data = sample_data(STATUS_CHANGED, "rejected")
    data["reason"] = "Outside the permitted extraction zone."
    sms = catalogue.render_sms(STATUS_CHANGED, data, "en")
    assert sms.text == (
        "Dossier 000.00.12.H12-250317-0042 rejected. Reason: Outside the permitted "
        f"extraction zone. Details: {LOOKUP}"
    )


def test_denunciation_sms_never_shows_the_contact(catalogue: TemplateCatalogue) -> None:
    data = sample_data(STATUS_CHANGED, "received")
    data["recipient"] = {"display_name": None, "phone": "0987654321", "language": "vi"}
    sms = catalogue.render_sms(STATUS_CHANGED, data, "vi")
    assert "0987654321" not in sms.text
    assert "987" not in sms.text.replace("000.00.12.H12-250317-0042", "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hồ sơ đã được tiếp nhận", "Ho so da duoc tiep nhan"),
        ("ĐĂNG KÝ ĐẤT ĐAI", "DANG KY DAT DAI"),
        ("Ủy ban nhân dân phường Thủy Xuân", "Uy ban nhan dan phuong Thuy Xuan"),
        ("diện tích 35,6 m²", "dien tich 35,6 m2"),
        ("“Trích lục” – bản đồ…", '"Trich luc" - ban do...'),
        ("số [12] {a} ~b | c \\ d", "so (12) (a) -b / c / d"),
        ("Xin cảm ơn 🙏", "Xin cam on "),
    ],
)
def test_to_gsm_text(text: str, expected: str) -> None:
    assert to_gsm_text(text) == expected


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 0),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("ồ" * 70, 1),
        ("ồ" * 71, 2),
        ("[" * 10, 1),
    ],
)
def test_sms_segments(text: str, segments: int) -> None:
    assert sms_segments(text) == segments


def test_sms_templates_are_written_in_plain_ascii(catalogue: TemplateCatalogue) -> None:
    # The renderer would fold diacritics anyway; a template written with them
    # would mean its author expected them to reach the handset.
    env = catalogue._env
    names = [n for n in env.list_templates() if n.endswith(".sms.txt")]
    assert len(names) == 6
    for name in names:
        source, _, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
        assert source.isascii(), name


free_text = st.text(
    alphabet=st.sampled_from(list("aăâbcdđeêghiklmnoôơpqrstuưvxyáàảãạếềểễệốồổỗộớờởỡợ ,;.()/-²")),
    max_size=400,
)


# Built once: compiling the templates for every example would be most of the run.
SMS_CATALOGUE = TemplateCatalogue(lookup_url=LOOKUP)


@settings(max_examples=150, deadline=None)
@given(
    procedure=free_text.filter(str.strip),
    reason=free_text,
    documents=st.lists(free_text, max_size=12),
    new_status=st.sampled_from([s.value for s in DossierStatus]),
    language=st.sampled_from(LANGUAGES),
)
def test_sms_always_fits_whatever_the_free_text(
    procedure: str, reason: str, documents: list[str], new_status: str, language: str
) -> None:
    data = longest_data(STATUS_CHANGED, new_status)
    data.update(procedure_name_vi=procedure, reason=reason or None, missing_documents=documents)
    sms = SMS_CATALOGUE.render_sms(STATUS_CHANGED, data, language)
    assert len(sms.text) <= SMS_MAX_CHARS[language]
    assert GSM_SAFE.match(sms.text)
    assert LONG_RECEIPT in sms.text
    assert sms.text.endswith(LOOKUP)


def test_free_text_goes_before_fixed_wording_is_cut() -> None:
    loader = jinja2.DictLoader(
        {
            "en/overdue.sms.txt": "Dossier {{ receipt_code }} {{ procedure_name }} "
            + "overdue " * 10
            + "{{ lookup_url }}",
        }
    )
    sms = TemplateCatalogue(lookup_url=LOOKUP, loader=loader).render_sms(
        OVERDUE, longest_data(OVERDUE, None), "en"
    )
    assert len(sms.text) <= 160
    assert "First-time" not in sms.text
    assert sms.text.endswith(LOOKUP)


def test_wording_too_long_for_any_sms_is_cut_as_a_last_resort() -> None:
    loader = jinja2.DictLoader({"en/overdue.sms.txt": "Dossier {{ receipt_code }} " + "late " * 40})
    sms = TemplateCatalogue(loader=loader).render_sms(OVERDUE, longest_data(OVERDUE, None), "en")
    assert len(sms.text) == 160
    assert sms.text.endswith("...")
