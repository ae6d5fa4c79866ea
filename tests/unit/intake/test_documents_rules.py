"""Intake's pure document rules: a file's type by its own bytes, what makes a PDF unfit
to open, byte ranges, the download's name; and the words of a result document."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader, PdfWriter

from chassis.catalogue import DossierKind, ResultDocument, load_default_catalogue
from intake.domain.documents import (
    ByteRange,
    PdfRisk,
    RangeNotSatisfiable,
    UploadRules,
    content_disposition,
    declared_type_error,
    etag_matches,
    parse_range,
    pdf_risks,
    sniffed_type_error,
)
from intake.domain.results import (
    DEFAULT_RESULTS,
    decision_number,
    result_event_id,
    result_template,
    result_text,
)
from tests.support.documents import sample_pdf

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64)
CATALOGUE = load_default_catalogue()


def risks_of(content: bytes) -> list[PdfRisk]:
    return pdf_risks(io.BytesIO(content))


def test_the_declared_type_must_be_one_intake_accepts() -> None:
    rules = UploadRules(max_bytes=10, media_types=frozenset({"application/pdf"}))
    assert declared_type_error("application/pdf", rules) is None
    refused = declared_type_error("application/x-msdownload", rules)
    assert refused is not None
    assert "not accepted" in refused


@pytest.mark.parametrize(
    ("declared", "head", "fits"),
    [
        ("application/pdf", sample_pdf("x"), True),
        ("image/png", PNG, True),
        ("image/jpeg", JPEG, True),
        ("application/pdf", PNG, False),
        ("image/png", sample_pdf("x"), False),
        ("image/jpeg", b"plain text, no magic number", False),
        ("application/xml", b'<?xml version="1.0"?><a/>', True),
        ("application/xml", b"\xef\xbb\xbf  <ho-so/>", True),
        ("application/xml", b"%PDF-1.7", False),
    ],
)
def test_the_first_bytes_must_be_the_declared_type(declared: str, head: bytes, fits: bool) -> None:
    assert (sniffed_type_error(declared, head) is None) is fits


def test_a_plain_pdf_carries_no_risk() -> None:
    assert risks_of(sample_pdf("Đơn đăng ký")) == []
    # An /OpenAction that only shows the first page runs nothing.
    assert risks_of(sample_pdf("x", catalog_extra=b"/OpenAction [3 0 R /Fit] ")) == []


@pytest.mark.parametrize(
    ("extra_catalog", "objects", "risk"),
    [
        (
            b"/OpenAction 6 0 R ",
            [b"<< /S /JavaScript /JS (app.alert\\(1\\)) >>"],
            PdfRisk.JAVASCRIPT,
        ),
        (
            b"/Names << /JavaScript << /Names [(a) 6 0 R] >> >> ",
            [b"<< /S /JavaScript /JS 7 0 R >>", b"<< /Length 0 >>\nstream\n\nendstream"],
            PdfRisk.JAVASCRIPT,
        ),
        (b"/OpenAction 6 0 R ", [b"<< /S /Launch /F (calc.exe) >>"], PdfRisk.LAUNCH),
        (b"/AA << /WC 6 0 R >> ", [b"<< /S /GoTo /D [3 0 R /Fit] >>"], PdfRisk.AUTOMATIC_ACTION),
        (
            b"/Names << /EmbeddedFiles << /Names [(a.exe) 6 0 R] >> >> ",
            [b"<< /Type /Filespec /F (a.exe) /EF << /F 7 0 R >> >>", b"<< /Length 0 >>"],
            PdfRisk.EMBEDDED_FILE,
        ),
    ],
)
def test_a_pdf_that_would_run_or_unpack_something_is_found_out(
    extra_catalog: bytes, objects: list[bytes], risk: PdfRisk
) -> None:
    assert risk in risks_of(sample_pdf("x", catalog_extra=extra_catalog, extra=objects))


def test_an_encrypted_pdf_and_a_broken_one_are_found_out() -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(sample_pdf("secret"))))
    writer.encrypt("a password")
    encrypted = io.BytesIO()
    writer.write(encrypted)
    assert risks_of(encrypted.getvalue()) == [PdfRisk.ENCRYPTED]
    assert risks_of(b"%PDF-1.7\n garbage that is no PDF at all") == [PdfRisk.UNREADABLE]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-99", ByteRange(0, 99)),
        ("bytes=100-", ByteRange(100, 999)),
        ("bytes=-10", ByteRange(990, 999)),
        ("bytes=900-5000", ByteRange(900, 999)),
        ("bytes=-5000", ByteRange(0, 999)),
        # Several ranges, a backwards one, another unit: the whole file (RFC 9110 §14.2).
        ("bytes=0-1,5-6", None),
        ("bytes=9-2", None),
        ("items=0-1", None),
    ],
)
def test_one_byte_range_is_served(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_a_range_beyond_the_end_is_not_satisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 1000)


def test_the_download_keeps_its_vietnamese_name_and_a_safe_ascii_one() -> None:
    header = content_disposition('đơn "đăng ký".pdf')
    assert header.startswith('attachment; filename="')
    assert "filename*=UTF-8''%C4%91%C6%A1n%20%22%C4%91%C4%83ng%20k%C3%BD%22.pdf" in header
    ascii_part = header.split(";")[1]
    assert ascii_part.isascii()
    assert '"' not in ascii_part.split("=", 1)[1].strip('"')


def test_etag_matching_takes_lists_weak_tags_and_the_star() -> None:
    sha = "ab" * 32
    assert etag_matches(f'"{sha}"', sha)
    assert etag_matches(f'"other", W/"{sha}"', sha)
    assert etag_matches("*", sha)
    assert not etag_matches('"other"', sha)
    assert not etag_matches(None, sha)


# --------------------------------------------------------------------------- results


def test_every_kind_has_a_default_result_and_the_catalogue_may_word_its_own() -> None:
    assert set(DEFAULT_RESULTS) == set(DossierKind)
    procedure = CATALOGUE.get("MT-004")
    assert procedure is not None
    assert result_template(procedure) == (
        procedure.result_document or DEFAULT_RESULTS[procedure.kind]
    )
    own = ResultDocument(
        title_vi="GIẤY XÁC NHẬN",
        title_en="CONFIRMATION",
        body_vi="Số {decision_number}.",
        body_en="No.",
    )
    worded = procedure.model_copy(update={"result_document": own})
    assert result_template(worded) is own


def test_the_result_is_worded_from_the_approval_the_same_each_time() -> None:
    procedure = CATALOGUE.get("MT-004")
    assert procedure is not None
    decided = datetime(2026, 12, 6, 20, 30, tzinfo=UTC)  # 7 December in Hà Nội
    number = decision_number("MT-261206-AAAAAA", "STNMT-MT", None)
    assert number == "MT-261206-AAAAAA/QĐ-STNMT-MT"
    assert decision_number("MT-261206-AAAAAA", "STNMT-MT", "12/GP-STNMT") == "12/GP-STNMT"
    words = {
        "language": "vi",
        "agency_name": "Chi cục Bảo vệ môi trường",
        "procedure_name": procedure.name_vi,
        "receipt_code": "MT-261206-AAAAAA",
        "applicant": "Công ty TNHH Giấy Hòa Bình",
        "number": number,
        "decided_at": decided,
    }
    text = result_text(procedure, **words)  # type: ignore[arg-type]
    assert text == result_text(procedure, **words)  # type: ignore[arg-type]
    assert text.decision_date == "ngày 07 tháng 12 năm 2026"
    assert "Công ty TNHH Giấy Hòa Bình" in text.body
    assert procedure.legal_basis in text.body
    assert "{" not in text.body + text.title
    assert result_event_id("d-1") == result_event_id("d-1") != result_event_id("d-2")
