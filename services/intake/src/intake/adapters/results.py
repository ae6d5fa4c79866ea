"""Kafka glue of result issuing: an approval is projected, then its result issued."""

from __future__ import annotations

from chassis.events import DossierStatusChanged
from chassis.kafka import ConsumedEvent, Handler
from intake.adapters.result_pdf import ResultSigner, render_result
from intake.domain.results import ResultText
from intake.service.results import ResultIssuer, SignResult
from intake.settings import IntakeSettings

__all__ = ["issuing_after", "result_signer"]


def issuing_after(project: Handler, issuer: ResultIssuer) -> Handler:
    """The status-changed handler: the citizen's status first (it never depends on the
    result), then the result of an approval. Both are idempotent, so a redelivery, or
    the replay of an approval dead-lettered for want of a key, does each at most once."""

    async def handle(event: ConsumedEvent) -> None:
        await project(event)
        payload = event.payload
        if not isinstance(payload, DossierStatusChanged):
            raise TypeError(
                f"expected {DossierStatusChanged.event_type}, got {event.envelope.type}"
            )
        await issuer.on_status_changed(payload)

    return handle


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
