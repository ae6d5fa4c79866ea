"""The receipt-and-appointment slip of a dossier, as PDF, for the desk and the unit.

The one-stop desk prints the slip of any dossier (it received them for every unit); an
officer or leader only of his own unit's dossiers. Another unit's dossier, an unknown
code and a submission the broker never acknowledged all get the same 404. The slip's
content is computed by `intake.domain.slip`; the renderer the composition root hands in
lays it out, in a worker thread (a page takes some milliseconds of CPU).
"""

from __future__ import annotations

import anyio

from chassis.auth import Principal, Role
from chassis.catalogue import Catalogue
from intake.domain.receipt import is_valid_receipt_code, normalise_receipt_code
from intake.domain.slip import Slip, slip_of
from intake.ports import ACCEPTED, SlipRenderer, StoreUnavailable, SubmissionStore
from intake.problems import PROCEDURE_WITHDRAWN, RECEIPT_NOT_FOUND
from intake.service.common import store_failed
from intake.settings import IntakeSettings

__all__ = ["Slips"]


class Slips:
    def __init__(
        self,
        *,
        store: SubmissionStore,
        catalogue: Catalogue,
        render: SlipRenderer,
        settings: IntakeSettings,
    ) -> None:
        self._store = store
        self._catalogue = catalogue
        self._render = render
        self._settings = settings

    async def slip(self, receipt_code: str, principal: Principal) -> Slip:
        """The slip's content, if ``principal`` may print it; else 404."""
        try:
            canonical = normalise_receipt_code(receipt_code)
        except ValueError:
            raise self._not_found() from None
        if not is_valid_receipt_code(canonical):
            raise self._not_found()
        try:
            submission = await self._store.for_slip(canonical)
        except StoreUnavailable as exc:
            store_failed(exc, self._settings)
        # A submission the broker never acknowledged was never answered with a receipt.
        if submission is None or submission.get("state") != ACCEPTED:
            raise self._not_found()
        if not principal.has(Role.DESK) and principal.agency != submission["agency"]:
            raise self._not_found()
        # The procedure as the catalogue stood when the dossier was lodged.
        catalogue = self._catalogue.at(submission["event"]["data"].get("catalogue_version"))
        procedure = catalogue.get(submission["procedure_code"])
        if procedure is None:
            raise PROCEDURE_WITHDRAWN("the procedure left the catalogue")
        receiving = catalogue.agencies.get(submission.get("received_by") or "")
        return slip_of(
            submission,
            procedure,
            catalogue.agency(procedure.agency),
            receiving,
            department=catalogue.department.name_vi,
            follow_up_url=self._settings.follow_up_url,
        )

    async def pdf(self, receipt_code: str, principal: Principal) -> bytes:
        slip = await self.slip(receipt_code, principal)
        return await anyio.to_thread.run_sync(self._render, slip)

    @staticmethod
    def _not_found() -> Exception:
        return RECEIPT_NOT_FOUND("no dossier of the caller's unit has this receipt code")
