"""Issuing the result document of an approved dossier, once, whatever is redelivered.

When processing approves a dossier, intake words its result from the catalogue
(`intake.domain.results`), lays it out and signs it with the agency's key, stores it
beside the dossier's other documents and publishes ``dossier.result-issued`` with its
SHA-256. One result per dossier: the store's unique key decides between replicas, and a
redelivered approval finds the stored result and publishes the very same event (same
id, same hash) instead of issuing a second document. Processing hands the result to the
citizen only once that event has reached it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from chassis.catalogue import Catalogue
from chassis.events import DossierResultIssued, DossierStatus, DossierStatusChanged, make_event
from intake.domain.results import ResultText, decision_number, result_event_id, result_text
from intake.ports import Clock, ResultStore
from intake.service.common import SOURCE, utc_now

__all__ = ["ResultIssuer", "ResultsNotConfigured", "SignResult"]

log = logging.getLogger("intake.results")

# Lays out and signs one result: the PDF's bytes. Blocking (CPU): run on a thread.
SignResult = Callable[[ResultText], bytes]
Announce = Callable[[DossierResultIssued, str, str], Awaitable[None]]


class ResultsNotConfigured(RuntimeError):
    """No signing key: the approval is dead-lettered, to be replayed once one is set."""


class ResultIssuer:
    def __init__(
        self,
        *,
        results: ResultStore,
        catalogue: Catalogue,
        sign: SignResult | None,
        announce: Announce,
        clock: Clock = utc_now,
    ) -> None:
        self._results = results
        self._catalogue = catalogue
        self._sign = sign
        self._announce = announce
        self._clock = clock

    async def on_status_changed(self, changed: DossierStatusChanged) -> bool:
        """Issue the result of an approval; whether this call stored a new document."""
        if changed.new_status != DossierStatus.APPROVED.value:
            return False
        dossier_id = changed.dossier_id
        stored = await self._results.result_of(dossier_id)
        issued = False
        if stored is None:
            if self._sign is None:
                raise ResultsNotConfigured(
                    "no signing key (INTAKE_SIGNING_PKCS12): the result cannot be issued"
                )
            procedure = self._catalogue.get(changed.procedure_code)
            if procedure is None:
                raise LookupError(f"procedure {changed.procedure_code} left the catalogue")
            number = decision_number(changed.receipt_code, changed.agency, changed.result_reference)
            language = changed.recipient.language
            text = result_text(
                procedure,
                language=language,
                agency_name=changed.agency_name_en if language == "en" else changed.agency_name_vi,
                procedure_name=(
                    changed.procedure_name_en if language == "en" else changed.procedure_name_vi
                ),
                receipt_code=changed.receipt_code,
                applicant=changed.recipient.display_name or "—",
                number=number,
                decided_at=changed.occurred_at,
            )
            # Signing is CPU work: on a thread, so the loop keeps serving requests.
            pdf = await asyncio.to_thread(self._sign, text)
            stored = await self._results.store_result(
                dossier_id,
                f"{changed.receipt_code}-ket-qua.pdf",
                pdf,
                {
                    "receipt_code": changed.receipt_code,
                    "decision_number": number,
                    "issued_at": self._clock(),
                },
            )
            issued = True
        else:
            # A crash after the result was stored may have left it unlinked.
            await self._results.link_result(dossier_id, stored["document_id"], self._clock())
        event = DossierResultIssued(
            dossier_id=dossier_id,
            receipt_code=stored["receipt_code"],
            document_id=stored["document_id"],
            sha256=stored["sha256"],
            size=int(stored["size"]),
            decision_number=stored["decision_number"],
            issued_at=stored["issued_at"],
        )
        await self._announce(event, result_event_id(dossier_id), dossier_id)
        if issued:
            log.info("result of dossier %s issued", dossier_id)
        return issued


def announce_with(publish: Callable[..., Awaitable[None]]) -> Announce:
    """Publish through the chassis publisher, under the result's fixed event id."""

    async def announce(event: DossierResultIssued, event_id: str, key: str) -> None:
        envelope = make_event(
            event, source=SOURCE, actor="system:intake", event_id=event_id, time=event.issued_at
        )
        await publish(envelope, key=key)

    return announce
