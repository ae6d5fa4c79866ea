"""Submitting a dossier: a validated submission becomes a dossier with a receipt.

Never accept twice, never lose: the submission is written as ``pending`` (with its
idempotency id, request hash, unique receipt code and the publishing lease of the
request), its ``dossier.submitted`` event is published and acknowledged by the broker,
and only then is it marked ``accepted`` and answered. When the broker does not
acknowledge, the answer is 503 and a retry with the same Idempotency-Key, on this
replica or another, takes the lease and publishes the very same event (same dossier id,
same event id), which consumers deduplicate.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from chassis.auth import Principal
from chassis.calendar import VN_TZ
from chassis.catalogue import Catalogue, Procedure
from chassis.events import Applicant, Channel, DossierSubmitted, Envelope, make_event
from chassis.problems import FORBIDDEN, VALIDATION_FAILED
from intake.api.models import ApplicantIn, SubmissionAccepted, SubmissionIn
from intake.domain.follow_up import FollowUpKeys, secret_hash
from intake.domain.identity import IdentitySeal, SealedIdentity, new_pseudonym
from intake.domain.lodging import (
    STAFF_CHANNELS,
    Lodger,
    lodging_refusal,
    postal_receipt_errors,
    receipt_moment,
)
from intake.domain.receipt import new_receipt_code
from intake.domain.submission import (
    FieldError,
    Refusal,
    appointment_date,
    attachment_errors,
    channel_refusal,
    content_errors,
    fingerprint,
    form_errors,
    operator_key_errors,
)
from intake.ports import (
    ACCEPTED,
    BrokerUnavailable,
    Clock,
    Insert,
    Publisher,
    StoreUnavailable,
    SubmissionStore,
)
from intake.problems import (
    DENUNCIATIONS_NOT_ACCEPTED,
    IDEMPOTENCY_KEY_REUSED,
    SUBMISSION_IN_PROGRESS,
)
from intake.service.common import (
    SOURCE,
    attachment_limits,
    refusal_problem,
    require_keys,
    store_failed,
    unavailable,
    utc_now,
)
from intake.service.documents import Documents
from intake.settings import IntakeSettings

__all__ = ["Receipt", "Submissions", "status_url"]

log = logging.getLogger("intake.dossiers")

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# 25 random bits per code and day: a handful of draws always finds a free one.
_RECEIPT_DRAWS = 8


def status_url(receipt_code: str) -> str:
    return f"/v1/dossiers/{receipt_code}/status"


@dataclass(frozen=True)
class Receipt:
    """The answer to a submission; ``replayed`` when it answers a retry of one."""

    body: SubmissionAccepted
    replayed: bool


class Submissions:
    def __init__(
        self,
        *,
        store: SubmissionStore,
        publisher: Publisher,
        catalogue: Catalogue,
        keys: FollowUpKeys | None,
        seal: IdentitySeal | None,
        settings: IntakeSettings,
        documents: Documents,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._documents = documents
        self._publisher = publisher
        self._catalogue = catalogue
        self._keys = keys
        self._seal = seal
        self._settings = settings
        self._clock = clock
        self._limits = attachment_limits(settings)

    # ----------------------------------------------------------------- checks

    def procedure(self, code: str) -> Procedure:
        procedure = self._catalogue.get(code)
        if procedure is None:
            raise refusal_problem(
                Refusal(
                    422,
                    "Unknown procedure",
                    f"no procedure {code!r} in the catalogue (GET /v1/procedures)",
                    [FieldError("/procedure_code", "unknown procedure code")],
                    reason="unknown-procedure",
                )
            )
        return procedure

    @staticmethod
    def authorise(procedure: Procedure, channel: Channel, principal: Principal) -> None:
        """Portals lodge online, the hotline by phone; the one-stop desk keys counter and
        postal dossiers of every unit, an officer those of his own unit."""
        refused = lodging_refusal(
            procedure, channel, Lodger(roles=principal.roles, agency=principal.agency)
        )
        if refused is not None:
            raise FORBIDDEN(refused)

    def validate(self, body: SubmissionIn, procedure: Procedure) -> None:
        refused = channel_refusal(procedure, body.channel.value)
        if refused is not None:
            raise refusal_problem(refused)
        errors = operator_key_errors(body.form)
        if not errors:
            errors = form_errors(self._catalogue.form_validator(procedure.code), body.form)
        errors += attachment_errors(procedure, [a.ref() for a in body.attachments], self._limits)
        errors += content_errors(procedure, body.content, self._settings.content_max_chars)
        errors += [
            FieldError(at, detail)
            for at, detail in postal_receipt_errors(
                body.channel,
                body.received_on,
                self._clock().astimezone(VN_TZ).date(),
                self._settings.post_received_max_days,
            )
        ]
        if body.channel is Channel.PHONE and body.applicant.phone is None:
            # The caller's number is how the department answers a petition taken by phone.
            errors.append(FieldError("/applicant/phone", "the caller's phone number is needed"))
        if procedure.confidential_applicant and body.applicant.address is None:
            # The Law on Denunciation asks for the denouncer's name and address.
            errors.append(FieldError("/applicant/address", "a denunciation needs an address"))
        if errors:
            raise refusal_problem(
                Refusal(
                    422,
                    "Submission is not valid",
                    f"{len(errors)} field(s) are not valid, first: {errors[0].pointer}",
                    errors,
                    reason="submission-invalid",
                )
            )

    async def uploaded_attachments(self, body: SubmissionIn) -> list[str]:
        """The stored document behind each attachment (its declared SHA-256, size and
        type must be an upload's); the submission is refused, naming each, otherwise."""
        errors, document_ids = await self._documents.resolve(body.attachments)
        if errors:
            raise refusal_problem(
                Refusal(
                    422,
                    "Submission is not valid",
                    f"{len(errors)} attachment(s) are not uploaded documents, first: "
                    f"{errors[0].pointer}",
                    errors,
                    reason="submission-invalid",
                )
            )
        return document_ids

    # ----------------------------------------------------------------- accept

    async def submit(
        self, body: SubmissionIn, principal: Principal, idempotency_key: str | None
    ) -> Receipt:
        procedure = self.procedure(body.procedure_code)
        self.authorise(procedure, body.channel, principal)
        self.validate(body, procedure)
        keys = require_keys(self._keys)
        if procedure.confidential_applicant and self._seal is None:
            raise DENUNCIATIONS_NOT_ACCEPTED(
                "no identity key is configured to protect the denouncer",
            )
        if not self._publisher.started:
            raise unavailable("the message broker cannot be reached", self._settings)
        document_ids = await self.uploaded_attachments(body)

        request_hash = fingerprint(body.model_dump(mode="json"))
        idempotency_id = _idempotency_id(principal, idempotency_key)
        now = self._clock()
        # A letter counts from its day of receipt at the department, not from keying.
        received = receipt_moment(body.channel, body.received_on, now)
        dossier_id = str(uuid.uuid4())
        lease_owner = uuid.uuid4().hex
        due = appointment_date(procedure, received)
        applicant, sealed, pseudonym = self._applicant_for_event(body.applicant, procedure)
        data = DossierSubmitted(
            dossier_id=dossier_id,
            receipt_code="",
            procedure_code=procedure.code,
            agency=procedure.agency,
            kind=procedure.kind.value,
            channel=body.channel,
            submitted_at=received,
            due_date=due,
            applicant=applicant,
            form=body.form,
            attachments=[
                {**a.model_dump(), "document_id": document_id}
                for a, document_id in zip(body.attachments, document_ids, strict=True)
            ],
            content=body.content,
            catalogue_version=self._catalogue.version_id,
        )
        prefix = self._catalogue.agency(procedure.agency).receipt_prefix
        received_day = received.astimezone(VN_TZ).date()
        document: dict[str, Any] = {
            "_id": dossier_id,
            "idempotency_id": idempotency_id or f"none:{dossier_id}",
            "request_hash": request_hash,
            "actor": principal.actor(),
            "procedure_code": procedure.code,
            "agency": procedure.agency,
            "kind": procedure.kind.value,
            "channel": body.channel.value,
            "received_at": received,
            "due_date": due.isoformat(),
            "lease_until": now + timedelta(seconds=self._settings.publish_lease_s),
            "lease_owner": lease_owner,
            "secret_hash": secret_hash(keys.secret_for(dossier_id)),
        }
        if body.channel in STAFF_CHANNELS and principal.agency is not None:
            # The unit whose desk or officer took the paper in: the slip's heading.
            document["received_by"] = principal.agency
        if body.applicant.phone is not None:
            document["phone_hash"] = keys.phone_hash(dossier_id, body.applicant.phone)
        if pseudonym is not None:
            document["pseudonym"] = pseudonym
            document["identity"] = sealed

        if not await self._documents.attach(dossier_id, document_ids):
            raise refusal_problem(_attachments_gone())
        envelope: Envelope | None = None
        for _ in range(_RECEIPT_DRAWS):
            receipt_code = new_receipt_code(prefix, received_day)
            data.receipt_code = receipt_code
            envelope = make_event(data, source=SOURCE, actor=principal.actor(), time=now)
            document["receipt_code"] = receipt_code
            document["event"] = envelope.model_dump(mode="json")
            document["response"] = {
                "dossier_id": dossier_id,
                "receipt_code": receipt_code,
                "procedure_code": procedure.code,
                "received_at": received.isoformat(),
                "due_date": due.isoformat(),
                "status_url": status_url(receipt_code),
            }
            try:
                outcome = await self._store.insert_submission(document)
            except StoreUnavailable as exc:
                store_failed(exc, self._settings)
            if outcome is Insert.DONE:
                break
            if outcome is Insert.KEY_TAKEN:
                # A retry, or a concurrent request with the same key that won the race.
                assert idempotency_id is not None
                try:
                    existing = await self._store.by_idempotency_id(idempotency_id)
                except StoreUnavailable as exc:
                    store_failed(exc, self._settings)
                if existing is None:
                    raise unavailable("the submission could not be recorded", self._settings)
                return await self.replay(existing, request_hash)
        else:
            raise unavailable("no free receipt code could be drawn", self._settings)
        assert envelope is not None
        return await self._publish_and_accept(
            dossier_id, lease_owner, envelope, document["response"], replayed=False
        )

    def _applicant_for_event(
        self, applicant: ApplicantIn, procedure: Procedure
    ) -> tuple[Applicant, str | None, str | None]:
        """The applicant as the event carries it; for a denunciation a pseudonym, with
        the identity sealed for intake's store."""
        if not procedure.confidential_applicant:
            return (
                Applicant(
                    type=applicant.type,
                    name=applicant.name,
                    id_number=applicant.id_number,
                    email=applicant.email,
                    phone=applicant.phone,
                    address=applicant.address,
                    language=applicant.language,
                    sms_opt_out=applicant.sms_opt_out,
                    portal_account=applicant.portal_account,
                ),
                None,
                None,
            )
        assert self._seal is not None
        pseudonym = new_pseudonym()
        sealed = self._seal.seal(
            SealedIdentity(
                name=applicant.name,
                id_number=applicant.id_number,
                address=applicant.address,
                phone=applicant.phone,
                email=applicant.email,
            )
        )
        return (
            Applicant(
                type=applicant.type,
                pseudonym=pseudonym,
                language=applicant.language,
                portal_account=applicant.portal_account,
            ),
            sealed,
            pseudonym,
        )

    # ----------------------------------------------------------------- retries

    async def replay(self, existing: dict[str, Any], request_hash: str) -> Receipt:
        """Answer a retry: the first answer again, publishing the pending submission's
        event first if it never got out and no other request is publishing it now."""
        if existing["request_hash"] != request_hash:
            raise IDEMPOTENCY_KEY_REUSED(
                "this Idempotency-Key was used for a different submission; use a new key",
            )
        dossier_id = existing["_id"]
        if existing.get("state") == ACCEPTED:
            return self._accepted(existing["response"], replayed=True)
        lease_owner = uuid.uuid4().hex
        now = self._clock()
        until = now + timedelta(seconds=self._settings.publish_lease_s)
        try:
            claimed = await self._store.claim(dossier_id, lease_owner, now, until)
            # Accepted since it was read: the first request finished meanwhile.
            if claimed is None and await self._store.state(dossier_id) == ACCEPTED:
                return self._accepted(existing["response"], replayed=True)
        except StoreUnavailable as exc:
            store_failed(exc, self._settings)
        if claimed is None:
            raise SUBMISSION_IN_PROGRESS(
                "the first request with this Idempotency-Key is still being recorded",
                headers={"Retry-After": "1"},
            )
        envelope = Envelope.model_validate(claimed["event"])
        return await self._publish_and_accept(
            dossier_id, lease_owner, envelope, claimed["response"], replayed=True
        )

    async def _publish_and_accept(
        self,
        dossier_id: str,
        lease_owner: str,
        envelope: Envelope,
        response: dict[str, Any],
        *,
        replayed: bool,
    ) -> Receipt:
        try:
            await self._publisher.publish(envelope, key=dossier_id)
        except BrokerUnavailable as exc:
            log.warning("dossier %s not published: broker unavailable", dossier_id)
            # If the release fails the lease simply runs out before Retry-After does.
            with contextlib.suppress(StoreUnavailable):
                await self._store.release(dossier_id, lease_owner, self._clock())
            raise unavailable(
                "the message broker did not acknowledge the dossier", self._settings
            ) from exc
        try:
            await self._store.mark_accepted(dossier_id, self._clock())
        except StoreUnavailable as exc:
            # The broker holds the event, so the dossier is accepted whatever happens to
            # this write. Should it be lost, a retry publishes the same event id again
            # once the lease runs out, which consumers deduplicate.
            log.warning("acceptance of dossier %s not written: %s", dossier_id, exc)
        return self._accepted(response, replayed=replayed)

    def _accepted(self, response: dict[str, Any], *, replayed: bool) -> Receipt:
        keys = require_keys(self._keys)
        body = SubmissionAccepted(
            **response, follow_up_secret=keys.secret_for(response["dossier_id"])
        )
        return Receipt(body, replayed)


def _attachments_gone() -> Refusal:
    return Refusal(
        422,
        "Submission is not valid",
        "an uploaded document was deleted meanwhile (unreferenced uploads are swept after "
        "a day): upload it again",
        [FieldError("/attachments", "upload the documents again")],
        reason="submission-invalid",
    )


def _idempotency_id(principal: Principal, idempotency_key: str | None) -> str | None:
    if idempotency_key is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise VALIDATION_FAILED(
            "Idempotency-Key must be 1-255 visible ASCII characters",
            errors=[{"pointer": "header:/Idempotency-Key", "detail": "malformed"}],
        )
    # Keys are the client's own namespace: two portals may both send "1". A key seen
    # before is found by the unique index when the insert is refused.
    scoped = f"{principal.actor()}\n{idempotency_key}".encode()
    return hashlib.sha256(scoped).hexdigest()
