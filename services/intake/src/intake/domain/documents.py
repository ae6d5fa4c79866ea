"""Rules an uploaded document must pass, and how one is served back. Pure: no I/O.

A file is what its own bytes say it is, not what its sender declares: the first bytes
are matched against the declared media type (`filetype`'s signatures), and a PDF is
walked for what a reader would run or open by itself (JavaScript, launch actions,
automatic actions, embedded files) or could not read without a password (encryption).
Each such finding is data (`PdfRisk`), so the caller can name it in the problem.
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import IO, Any

import filetype
from pypdf import PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

__all__ = [
    "SNIFF_BYTES",
    "ByteRange",
    "PdfRisk",
    "RangeNotSatisfiable",
    "UploadRules",
    "content_disposition",
    "declared_type_error",
    "etag",
    "etag_matches",
    "parse_range",
    "pdf_risks",
    "risk_text",
    "sniffed_type_error",
]

# What `filetype` reads to recognise a file (an Office file's zip entries come early).
SNIFF_BYTES = 8192
PDF = "application/pdf"
XML = "application/xml"
# A PDF of a few hundred pages has some ten thousand objects; a crafted one that goes on
# for ever is refused as unreadable instead of walked to the end.
_MAX_PDF_OBJECTS = 200_000
_XML_START = re.compile(rb"^(?:\xef\xbb\xbf)?\s*<(?:\?xml|[A-Za-z_])")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class UploadRules:
    max_bytes: int
    media_types: frozenset[str]


class PdfRisk(StrEnum):
    """What makes a PDF unfit to hand to an officer's reader."""

    JAVASCRIPT = "javascript"
    LAUNCH = "launch-action"
    AUTOMATIC_ACTION = "automatic-action"
    EMBEDDED_FILE = "embedded-file"
    ENCRYPTED = "encrypted"
    UNREADABLE = "unreadable"


_RISK_TEXT = {
    PdfRisk.JAVASCRIPT: "it carries JavaScript",
    PdfRisk.LAUNCH: "it carries an action that launches a program",
    PdfRisk.AUTOMATIC_ACTION: "it carries actions that run when it is opened or viewed",
    PdfRisk.EMBEDDED_FILE: "it carries embedded files",
    PdfRisk.ENCRYPTED: "it is encrypted",
    PdfRisk.UNREADABLE: "it cannot be read as a PDF",
}


def risk_text(risks: Iterable[PdfRisk]) -> str:
    return "; ".join(_RISK_TEXT[r] for r in risks)


def declared_type_error(declared: str, rules: UploadRules) -> str | None:
    if declared not in rules.media_types:
        allowed = ", ".join(sorted(rules.media_types))
        return f"media type {declared!r} is not accepted (accepted: {allowed})"
    return None


def sniffed_type_error(declared: str, head: bytes) -> str | None:
    """Whether the file's first bytes contradict its declared media type."""
    if declared == XML:
        # XML is text: no magic number, but it opens with a declaration or an element.
        if _XML_START.match(head):
            return None
        return "the file does not start like an XML document"
    found: str | None = filetype.guess_mime(head)
    if found == declared:
        return None
    if found is None:
        return f"the file's bytes are not recognisable as {declared}"
    return f"the file's bytes are {found}, not the declared {declared}"


def pdf_risks(stream: IO[bytes]) -> list[PdfRisk]:
    """What a reader of this PDF would run, launch, unpack or need a password for.

    Every object reachable from the trailer is visited once: names that hide behind an
    object stream or a compressed dictionary are found all the same, which a byte
    search for ``/JavaScript`` would miss.
    """
    try:
        reader = PdfReader(stream, strict=False)
        if reader.is_encrypted:
            return [PdfRisk.ENCRYPTED]
        found: set[PdfRisk] = set()
        _walk(reader.trailer, found)
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return [PdfRisk.UNREADABLE]
    except _TooLarge:
        return [PdfRisk.UNREADABLE]
    return sorted(found)


class _TooLarge(Exception):
    pass


def _walk(root: Any, found: set[PdfRisk]) -> None:
    seen: set[tuple[int, int]] = set()
    pending: list[Any] = [root]
    visited = 0
    while pending:
        item = pending.pop()
        if isinstance(item, IndirectObject):
            key = (item.idnum, item.generation)
            if key in seen:
                continue
            seen.add(key)
            item = item.get_object()
        visited += 1
        if visited > _MAX_PDF_OBJECTS:
            raise _TooLarge()
        if isinstance(item, DictionaryObject):
            _inspect(item, found)
            pending.extend(item.values())
        elif isinstance(item, ArrayObject):
            pending.extend(item)


def _inspect(item: DictionaryObject, found: set[PdfRisk]) -> None:
    keys = set(item.keys())
    if "/JS" in keys or "/JavaScript" in keys:
        found.add(PdfRisk.JAVASCRIPT)
    action = item.get("/S")
    if isinstance(action, NameObject):
        if action == "/JavaScript":
            found.add(PdfRisk.JAVASCRIPT)
        elif action == "/Launch":
            found.add(PdfRisk.LAUNCH)
    if "/Launch" in keys:
        found.add(PdfRisk.LAUNCH)
    if "/AA" in keys:
        found.add(PdfRisk.AUTOMATIC_ACTION)
    # A file specification with an /EF entry carries the file itself (one that only
    # names an outside file does not); /EmbeddedFiles is the catalogue's list of them.
    if "/EF" in keys or "/EmbeddedFiles" in keys or item.get("/Type") == "/EmbeddedFile":
        found.add(PdfRisk.EMBEDDED_FILE)
    if "/Encrypt" in keys:
        found.add(PdfRisk.ENCRYPTED)
    # An /OpenAction that only opens a page is harmless; one that runs script is caught
    # above when its action dictionary is visited.


# --------------------------------------------------------------------------- serving


@dataclass(frozen=True)
class ByteRange:
    """An inclusive byte range, as HTTP counts it."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def header(self) -> str:
        return f"bytes={self.start}-{self.end}"


class RangeNotSatisfiable(ValueError):
    """The range starts beyond the file's end: answered 416."""


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range of a ``Range`` header; None for the whole file (no header, several
    ranges or a syntax the server may ignore, RFC 9110 §14.2)."""
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable(header)
        return ByteRange(max(size - suffix, 0), size - 1)
    start = int(first)
    end = size - 1 if not last else min(int(last), size - 1)
    if last and int(last) < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(header)
    return ByteRange(start, end)


def etag(sha256: str) -> str:
    return f'"{sha256}"'


def etag_matches(if_none_match: str | None, sha256: str) -> bool:
    if if_none_match is None:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag(sha256) in tags


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback and the UTF-8 name (RFC 6266, RFC 8187)."""
    folded = unicodedata.normalize("NFKD", name)
    ascii_name = "".join(c for c in folded if c.isascii() and c.isprintable())
    ascii_name = re.sub(r'["\\;]', "_", ascii_name).strip() or "document"
    quoted = urllib.parse.quote(name, safe="")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quoted}"
