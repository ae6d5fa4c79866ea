"""The typeface every PDF intake prints (receipt slips, result documents) is set in.

Vietnamese needs glyphs for every diacritic (ắ, ệ, ử, đ …); the PDF standard fonts have
none, so a TrueType font is embedded. DejaVu (Debian's ``fonts-dejavu-core``) covers the
whole Vietnamese alphabet; ``INTAKE_PDF_FONT_DIR`` points elsewhere when a deployment
prefers another family with the same file names.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

__all__ = ["BODY", "BOLD", "FontMissing", "register_fonts"]

BODY = "HosoSans"
BOLD = "HosoSans-Bold"
_FILES = {BODY: "DejaVuSans.ttf", BOLD: "DejaVuSans-Bold.ttf"}
_DEFAULT_DIR = "/usr/share/fonts/truetype/dejavu"


class FontMissing(RuntimeError):
    """The font files are not installed; the message says which package provides them."""


@cache
def register_fonts(font_dir: str | None = None) -> tuple[str, str]:
    """Register the body and bold faces with reportlab once; return their names."""
    folder = Path(font_dir or os.environ.get("INTAKE_PDF_FONT_DIR") or _DEFAULT_DIR)
    for name, file_name in _FILES.items():
        path = folder / file_name
        if not path.is_file():
            raise FontMissing(
                f"{path} is missing: install Debian's fonts-dejavu-core "
                "or set INTAKE_PDF_FONT_DIR to a folder holding DejaVuSans.ttf"
            )
        pdfmetrics.registerFont(TTFont(name, str(path)))
    return BODY, BOLD
