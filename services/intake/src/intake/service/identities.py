"""Who is behind a denouncer's pseudonym, for an officer cleared to know.

Every look is published as ``dossier.identity-resolved`` (who looked, at which dossier;
never what they saw) before anything is shown, so the audit log has it even if the
answer is lost. Whether the caller holds the clearance is the door's check; which
agency's denunciations they may see is checked here, against the submission.
"""

from __future__ import annotations

import logging

from chassis.auth import Principal
from chassis.events import DossierIdentityResolved, make_event
from intake.api.models import IdentityOut
from intake.domain.identity import PSEUDONYM_PREFIX, IdentitySeal, UnreadableIdentity
from intake.ports import BrokerUnavailable, Clock, Publisher, StoreUnavailable, SubmissionStore
from intake.problems import IDENTITY_UNREADABLE, PSEUDONYM_NOT_FOUND, SERVICE_NOT_CONFIGURED
from intake.service.common import SOURCE, store_failed, unavailable, utc_now
from intake.settings import IntakeSettings

__all__ = ["Identities"]

log = logging.getLogger("intake.identities")


class Identities:
    def __init__(
        self,
        *,
        store: SubmissionStore,
        publisher: Publisher,
        seal: IdentitySeal | None,
        settings: IntakeSettings,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._seal = seal
        self._settings = settings
        self._clock = clock

    async def resolve(self, pseudonym: str, principal: Principal) -> IdentityOut:
        not_found = PSEUDONYM_NOT_FOUND("no denunciation under this pseudonym")
        if not pseudonym.startswith(PSEUDONYM_PREFIX) or len(pseudonym) > 64:
            raise not_found
        try:
            submission = await self._store.by_pseudonym(pseudonym)
        except StoreUnavailable as exc:
            store_failed(exc, self._settings)
        # Another agency's officer learns nothing, not even that the pseudonym exists.
        if submission is None or submission.get("agency") != principal.agency:
            raise not_found
        if self._seal is None:
            raise SERVICE_NOT_CONFIGURED("no identity key is configured")
        try:
            identity = self._seal.open(submission["identity"])
        except UnreadableIdentity as exc:
            log.error("sealed identity of dossier %s cannot be opened", submission["_id"])
            raise IDENTITY_UNREADABLE("the error was logged") from exc
        now = self._clock()
        event = make_event(
            DossierIdentityResolved(
                dossier_id=submission["_id"],
                receipt_code=submission["receipt_code"],
                pseudonym=pseudonym,
                resolved_at=now,
            ),
            source=SOURCE,
            actor=principal.actor(),
            time=now,
        )
        try:
            await self._publisher.publish(event, key=submission["_id"])
        except BrokerUnavailable as exc:
            raise unavailable("the resolution could not be recorded", self._settings) from exc
        log.info("denouncer of dossier %s resolved by %s", submission["_id"], principal.actor())
        return IdentityOut(
            pseudonym=pseudonym,
            dossier_id=submission["_id"],
            receipt_code=submission["receipt_code"],
            name=identity.name,
            id_number=identity.id_number,
            address=identity.address,
            phone=identity.phone,
            email=identity.email,
        )
