"""The receipt-and-appointment slip as an A4 PDF (reportlab), Vietnamese text embedded in
DejaVu, the receipt code as text and as a QR code.

Only lays out what `intake.domain.slip.Slip` says; whatever the slip must or must not
carry is decided there. The bytes are the applicant's paper: nothing here logs them.
"""

from __future__ import annotations

import io
import itertools

from reportlab.graphics.barcode import qrencoder
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas

from intake.adapters.pdf_fonts import register_fonts
from intake.domain.slip import Slip

__all__ = ["render_slip"]

_MARGIN = 20 * mm
_QR_SIZE = 38 * mm
_QR_QUIET = 4  # modules of white around the code, as the QR standard asks
_BODY_SIZE = 11
_LEADING = 15


def _draw_qr(canvas: Canvas, content: str, x: float, y: float, size: float) -> None:
    """The QR code of ``content`` (level M, quiet zone of four modules) as one filled
    path, its lower left corner at (x, y). Drawn straight on the canvas: reportlab's
    widget builds a shape object per module and encodes twice, some ten times slower."""
    code = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
    code.addData(content)
    code.make()
    count = code.getModuleCount()
    module = size / (count + 2 * _QR_QUIET)
    path = canvas.beginPath()
    for row_index, row in enumerate(code.modules):
        column = 0
        for dark, run in itertools.groupby(bool(cell) for cell in row):
            length = len(list(run))
            if dark:
                path.rect(
                    x + (column + _QR_QUIET) * module,
                    y + size - (row_index + _QR_QUIET + 1) * module,
                    length * module,
                    module,
                )
            column += length
    canvas.setFillGray(0)
    canvas.drawPath(path, stroke=0, fill=1)


class _Page:
    """A cursor down the page that wraps each line within the margins."""

    def __init__(self, canvas: Canvas, body: str, bold: str) -> None:
        self.canvas = canvas
        self.body = body
        self.bold = bold
        self.width = A4[0] - 2 * _MARGIN
        self.y = A4[1] - _MARGIN

    def centred(self, text: str, *, bold: bool = False, size: int = _BODY_SIZE) -> None:
        self.canvas.setFont(self.bold if bold else self.body, size)
        for line in simpleSplit(text, self.bold if bold else self.body, size, self.width):
            self.canvas.drawCentredString(A4[0] / 2, self.y, line)
            self.y -= size + 4

    def field(self, label: str, value: str, *, width: float | None = None) -> None:
        """``label: value``, the label bold, the value wrapped under its own start."""
        width = width or self.width
        self.canvas.setFont(self.bold, _BODY_SIZE)
        self.canvas.drawString(_MARGIN, self.y, label)
        indent = self.canvas.stringWidth(label + " ", self.bold, _BODY_SIZE)
        lines = simpleSplit(value, self.body, _BODY_SIZE, width - indent) or [""]
        self.canvas.setFont(self.body, _BODY_SIZE)
        for line in lines:
            self.canvas.drawString(_MARGIN + indent, self.y, line)
            self.y -= _LEADING

    def line(self, text: str, *, indent: float = 0) -> None:
        self.canvas.setFont(self.body, _BODY_SIZE)
        for part in simpleSplit(text, self.body, _BODY_SIZE, self.width - indent):
            self.canvas.drawString(_MARGIN + indent, self.y, part)
            self.y -= _LEADING

    def gap(self, points: float = 6) -> None:
        self.y -= points


def render_slip(slip: Slip) -> bytes:
    body, bold = register_fonts()
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, pageCompression=1)
    # The title names the document, never the applicant: viewers show it in tab bars.
    canvas.setTitle(f"{slip.title} {slip.receipt_code}")
    canvas.setAuthor(slip.department)
    page = _Page(canvas, body, bold)

    page.centred(slip.department, bold=True)
    page.centred(slip.receiving_unit.upper(), bold=True)
    page.gap()
    page.centred("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", bold=True)
    page.centred("Độc lập - Tự do - Hạnh phúc")
    page.gap(12)
    page.centred(slip.title, bold=True, size=14)
    page.centred(f"Mã hồ sơ: {slip.receipt_code}", bold=True, size=13)
    page.gap(8)

    qr_top = page.y
    beside_qr = page.width - _QR_SIZE - 6 * mm
    _draw_qr(canvas, slip.qr_content, A4[0] - _MARGIN - _QR_SIZE, qr_top - _QR_SIZE, _QR_SIZE)
    page.field("Tiếp nhận hồ sơ của:", slip.applicant, width=beside_qr)
    page.field("Thủ tục:", slip.procedure, width=beside_qr)
    page.field("Đơn vị giải quyết:", slip.handling_unit, width=beside_qr)
    page.field("Hình thức nộp:", slip.channel, width=beside_qr)
    page.y = min(page.y, qr_top - _QR_SIZE - 4 * mm)

    page.field("Thành phần hồ sơ đã nhận:", "")
    for number, document in enumerate(slip.documents, start=1):
        page.line(f"{number}. {document}", indent=6 * mm)
    page.gap()
    page.field("Thời gian tiếp nhận:", slip.received_at)
    page.field("Thời gian hẹn trả kết quả:", slip.appointment)
    page.field("Người tiếp nhận:", slip.receiving_officer)
    page.gap()
    for text in slip.follow_up:
        page.line(text)

    canvas.showPage()
    canvas.save()
    return out.getvalue()
