"""The result document as a signed PDF: laid out with reportlab, signed PAdES by pyHanko.

The text is set in the embedded DejaVu faces (`pdf_fonts`), so every Vietnamese
diacritic renders and is extracted as typed. The signature is a PAdES baseline
signature (``ETSI.CAdES.detached``) made with the agency's key and certificate, loaded
once from the PKCS#12 file the settings name; any change to a signed byte makes it
invalid, which any PDF reader and `pyhanko.sign.validation` show.
"""

from __future__ import annotations

import io
from pathlib import Path
from xml.sax.saxutils import escape

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from intake.adapters.pdf_fonts import register_fonts
from intake.domain.results import ResultText

__all__ = ["ResultSigner", "SigningKeyUnusable", "render_result"]

_HEADING_VI = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc")
_HEADING_EN = ("SOCIALIST REPUBLIC OF VIET NAM", "Independence - Freedom - Happiness")


class SigningKeyUnusable(RuntimeError):
    """The PKCS#12 file cannot be opened with its password, or holds no key."""


def render_result(text: ResultText) -> bytes:
    """The unsigned PDF of one result document."""
    body_font, bold_font = register_fonts()
    base = ParagraphStyle("body", fontName=body_font, fontSize=11.5, leading=16)
    centred = ParagraphStyle("centred", parent=base, alignment=TA_CENTER)
    bold_centred = ParagraphStyle("bold", parent=centred, fontName=bold_font)
    heading_style = ParagraphStyle("heading", parent=bold_centred, fontSize=10.5, leading=14)
    title = ParagraphStyle("title", parent=bold_centred, fontSize=15, leading=20, spaceAfter=8)
    body = ParagraphStyle("text", parent=base, alignment=TA_JUSTIFY, spaceAfter=6)
    english = text.language == "en"
    heading = _HEADING_EN if english else _HEADING_VI
    number_label = "No." if english else "Số:"
    header = Table(
        [
            [
                Paragraph(escape(text.agency.upper()), bold_centred),
                Paragraph(heading[0], bold_centred),
            ],
            [
                Paragraph(f"{number_label} {escape(text.decision_number)}", centred),
                Paragraph(heading[1], heading_style),
            ],
            ["", Paragraph(f"<i>{escape(text.place_and_date)}</i>", centred)],
        ],
        colWidths=[68 * mm, 102 * mm],
    )
    header.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story = [header, Spacer(1, 12 * mm), Paragraph(escape(text.title), title)]
    for line in text.body.split("\n"):
        if line.strip():
            story.append(Paragraph(escape(line), body))
    receipt_label = "Dossier" if english else "Hồ sơ số"
    basis_label = "Legal basis" if english else "Căn cứ pháp lý"
    story += [
        Spacer(1, 6 * mm),
        Paragraph(f"{receipt_label}: {escape(text.receipt_code)}", base),
        Paragraph(f"{basis_label}: {escape(text.legal_basis)}", base),
        Spacer(1, 12 * mm),
        Paragraph(escape(text.agency), bold_centred),
    ]
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=text.title,
        author=text.agency,
        subject=text.decision_number,
        # No creation time or random id in the file: the same text, the same bytes.
        invariant=1,
    )
    document.build(story)
    return out.getvalue()


class ResultSigner:
    """Signs result documents with the agency's key (PKCS#12), loaded once."""

    def __init__(self, pkcs12_path: str, password: str | None) -> None:
        path = Path(pkcs12_path)
        if not path.is_file():
            raise SigningKeyUnusable(f"{path} does not exist")
        signer = signers.SimpleSigner.load_pkcs12(  # type: ignore[no-untyped-call]
            path, passphrase=password.encode() if password is not None else None
        )
        if signer is None:
            raise SigningKeyUnusable(f"{path} cannot be opened with its password")
        self._signer = signer

    def sign(self, pdf: bytes, *, reason: str, location: str) -> bytes:
        out = io.BytesIO()
        signers.sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(pdf)),
            signers.PdfSignatureMetadata(
                field_name="AgencySignature",
                reason=reason,
                location=location,
                subfilter=SigSeedSubFilter.PADES,
            ),
            signer=self._signer,
            output=out,
        )
        return out.getvalue()
