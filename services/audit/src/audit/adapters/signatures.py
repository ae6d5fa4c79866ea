"""PAdES signatures judged with pyHanko, against the configured trust roots.

The last signature of the file is the one that must hold: intact, valid, by a certificate
chaining to a trust root (the province's CA in production, ``.local/pki/ca.pem`` locally)
without fetching anything from the network, and covering the entire file, so that nothing
was appended after it was signed. Used by the service and by the offline command alike.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from asn1crypto import x509
from pyhanko.keys import load_certs_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from audit.domain.chain import iso_utc
from audit.domain.documents import SignatureVerdict

__all__ = ["PdfSignatureChecker", "load_trust_roots"]

log = logging.getLogger(__name__)


def load_trust_roots(path: Path | None) -> list[x509.Certificate]:
    """The certificates of a PEM (or DER) bundle; none without a path."""
    if path is None:
        return []
    return list(load_certs_from_pemder([str(path)]))  # type: ignore[no-untyped-call]


def _signed_at(status: PdfSignatureStatus) -> str | None:
    # A trusted timestamp beats the time the signer claims.
    stamp = status.timestamp_validity
    moment = stamp.timestamp if stamp is not None and stamp.valid else status.signer_reported_dt
    return iso_utc(moment) if moment is not None else None


def _problem(status: PdfSignatureStatus, valid: bool) -> str | None:
    if not status.intact:
        return "the document was changed after it was signed"
    if not status.valid:
        return "the signature does not match the signer's key"
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        return "the signature does not cover the whole file (content was added after signing)"
    if not valid:
        return "the signature does not hold"
    if not status.trusted:
        return "the signer's certificate does not chain to a trusted root"
    return None


class PdfSignatureChecker:
    """The ``SignatureChecker`` port with pyHanko."""

    def __init__(self, trust_roots: Iterable[x509.Certificate]) -> None:
        self._roots = list(trust_roots)

    @property
    def has_trust_roots(self) -> bool:
        return bool(self._roots)

    def check(self, pdf: IO[bytes]) -> SignatureVerdict:
        pdf.seek(0)
        try:
            reader = PdfFileReader(pdf, strict=False)
            signatures = reader.embedded_regular_signatures
        except Exception as exc:  # any malformed input: the bytes are the caller's
            log.info("unreadable PDF: %s", type(exc).__name__)
            return SignatureVerdict(False, False, problem="the PDF cannot be read")
        if not signatures:
            return SignatureVerdict(False, False, problem="the PDF carries no signature")
        embedded = signatures[-1]
        # A context per document: it caches what it learns, and verifications run in
        # parallel threads. Nothing is fetched: the trust roots are all it knows.
        context = ValidationContext(trust_roots=self._roots, allow_fetching=False)
        try:
            status = validate_pdf_signature(embedded, context)
        except Exception as exc:  # a damaged signature dictionary or CMS blob
            log.info("signature not validated: %s", type(exc).__name__)
            return SignatureVerdict(False, False, problem="the signature cannot be read")
        valid = (
            status.intact
            and status.valid
            and status.coverage == SignatureCoverageLevel.ENTIRE_FILE
            and status.seed_value_ok
        )
        return SignatureVerdict(
            valid=valid,
            trusted=valid and status.trusted,
            signer=status.signing_cert.subject.human_friendly,
            signed_at=_signed_at(status),
            problem=_problem(status, valid),
        )
