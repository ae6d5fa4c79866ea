"""Signing results with the configured key (the issuing itself: `intake.service.results`;
its place after the status projection: `intake.adapters.projection`)."""

from __future__ import annotations

from intake.adapters.result_pdf import ResultSigner, render_result
from intake.domain.results import ResultText
from intake.service.results import SignResult
from intake.settings import IntakeSettings

__all__ = ["result_signer"]


def result_signer(settings: IntakeSettings) -> SignResult | None:
    """Lays out and signs a result with the configured key; None without one. A key
    that cannot be opened stops the start-up, not the first approval."""
    if settings.signing_pkcs12 is None:
        return None
    password = settings.signing_pkcs12_password
    signer = ResultSigner(
        settings.signing_pkcs12, password.get_secret_value() if password is not None else None
    )

    def sign(text: ResultText) -> bytes:
        reason = "Kết quả giải quyết hồ sơ" if text.language == "vi" else "Result of the dossier"
        return signer.sign(render_result(text), reason=reason, location=text.agency)

    return sign
