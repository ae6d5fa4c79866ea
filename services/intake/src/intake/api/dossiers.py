"""POST /v1/dossiers: a validated submission becomes a dossier with a receipt.

Never accept twice, never lose: the submission is written as ``pending`` (with its
idempotency id, request hash, unique receipt code and the publishing lease of the
request), its ``dossier.submitted`` event is published and acknowledged by the broker,
and only then is it marked ``accepted`` and answered with 202. When the broker does not
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
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse
from pymongo.errors import PyMongoError

from chassis.auth import Principal, Role, require_roles
from chassis.calendar import VN_TZ
from chassis.catalogue import Procedure
from chassis.events import Applicant, Channel, DossierSubmitted, Envelope, make_event
from chassis.kafka import KafkaUnavailable
from chassis.problems import PROBLEM_RESPONSES, Problem
from intake.adapters.store import ACCEPTED, Insert
from intake.api.context import IntakeContext
from intake.api.models import ApplicantIn, SubmissionAccepted, SubmissionIn
from intake.domain.follow_up import secret_hash
from intake.domain.identity import SealedIdentity, new_pseudonym
from intake.domain.receipt import new_receipt_code
from intake.domain.submission import (
    AttachmentLimits,
    AttachmentRef,
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

log = logging.getLogger("intake.dossiers")

SOURCE = "/hoso/intake"
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# 25 random bits per code and day: a handful of draws always finds a free one.
_RECEIPT_DRAWS = 8


def refusal_problem(refusal: Refusal) -> Problem:
    return Problem(
        refusal.status,
        refusal.title,
        refusal.detail,
        type_=f"https://hoso.gov.vn/problems/{refusal.reason}",
        errors=[error.as_dict() for error in refusal.errors],
    )


def status_url(receipt_code: str) -> str:
    return f"/v1/dossiers/{receipt_code}/status"


class Submissions:
    def __init__(self, ctx: IntakeContext) -> None:
        self._ctx = ctx
        settings = ctx.settings
        self._limits = AttachmentLimits(
            max_count=settings.attachment_max_count,
            max_bytes=settings.attachment_max_bytes,
            max_total_bytes=settings.attachment_max_total_bytes,
            media_types=frozenset(settings.attachment_media_types),
        )

    # ----------------------------------------------------------------- checks

    def procedure(self, code: str) -> Procedure:
        procedure = self._ctx.catalogue.get(code)
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
        """Portals lodge online; an officer keys paper dossiers of their own agency."""
        if channel is Channel.ONLINE:
            if not principal.has(Role.PORTAL):
                raise Problem(403, "Forbidden", "the online channel is for portal clients")
            return
        if not (principal.has(Role.OFFICER) or principal.has(Role.LEADER)):
            raise Problem(403, "Forbidden", "the counter channel is for officers")
        if principal.agency != procedure.agency:
            raise Problem(
                403,
                "Forbidden",
                f"procedure {procedure.code} is received by {procedure.agency}, "
                "not by the officer's agency",
            )

    def validate(self, body: SubmissionIn, procedure: Procedure) -> None:
        refused = channel_refusal(procedure, body.channel.value)
        if refused is not None:
            raise refusal_problem(refused)
        errors = operator_key_errors(body.form)
        if not errors:
            errors = form_errors(self._ctx.catalogue.form_validator(procedure.code), body.form)
        errors += attachment_errors(
            procedure,
            [AttachmentRef(a.document_code, a.media_type, a.size) for a in body.attachments],
            self._limits,
        )
        errors += content_errors(procedure, body.content, self._ctx.settings.content_max_chars)
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
                )
            )

    # ----------------------------------------------------------------- accept

    async def submit(
        self, body: SubmissionIn, principal: Principal, idempotency_key: str | None
    ) -> JSONResponse:
        ctx = self._ctx
        procedure = self.procedure(body.procedure_code)
        self.authorise(procedure, body.channel, principal)
        self.validate(body, procedure)
        keys = ctx.require_keys()
        if procedure.confidential_applicant and ctx.seal is None:
            raise Problem(
                503,
                "Denunciations are not accepted now",
                "no identity key is configured to protect the denouncer",
            )
        if not ctx.publisher.started:
            raise ctx.unavailable("the message broker cannot be reached")

        request_hash = fingerprint(body.model_dump(mode="json"))
        idempotency_id: str | None = None
        if idempotency_key is not None:
            if not _IDEMPOTENCY_KEY.fullmatch(idempotency_key):
                raise Problem(
                    422,
                    "Request is not valid",
                    "Idempotency-Key must be 1-255 visible ASCII characters",
                    errors=[{"pointer": "header:/Idempotency-Key", "detail": "malformed"}],
                )
            # Keys are the client's own namespace: two portals may both send "1". A key
            # seen before is found by the unique index when the insert below is refused.
            scoped = f"{principal.actor()}\n{idempotency_key}".encode()
            idempotency_id = hashlib.sha256(scoped).hexdigest()

        now = datetime.now(UTC)
        dossier_id = str(uuid.uuid4())
        lease_owner = uuid.uuid4().hex
        due = appointment_date(procedure, now)
        applicant, sealed, pseudonym = self._applicant_for_event(body.applicant, procedure)
        data = DossierSubmitted(
            dossier_id=dossier_id,
            receipt_code="",
            procedure_code=procedure.code,
            agency=procedure.agency,
            kind=procedure.kind.value,
            channel=body.channel,
            submitted_at=now,
            due_date=due,
            applicant=applicant,
            form=body.form,
            attachments=[a.model_dump() for a in body.attachments],
            content=body.content,
        )
        prefix = ctx.catalogue.agency(procedure.agency).receipt_prefix
        received_day = now.astimezone(VN_TZ).date()
        document: dict[str, Any] = {
            "_id": dossier_id,
            "idempotency_id": idempotency_id or f"none:{dossier_id}",
            "request_hash": request_hash,
            "actor": principal.actor(),
            "procedure_code": procedure.code,
            "agency": procedure.agency,
            "kind": procedure.kind.value,
            "channel": body.channel.value,
            "received_at": now,
            "due_date": due.isoformat(),
            "lease_until": now + timedelta(seconds=ctx.settings.publish_lease_s),
            "lease_owner": lease_owner,
            "secret_hash": secret_hash(keys.secret_for(dossier_id)),
        }
        if body.applicant.phone is not None:
            document["phone_hash"] = keys.phone_hash(dossier_id, body.applicant.phone)
        if pseudonym is not None:
            document["pseudonym"] = pseudonym
            document["identity"] = sealed

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
                "received_at": now.isoformat(),
                "due_date": due.isoformat(),
                "status_url": status_url(receipt_code),
            }
            try:
                outcome = await ctx.store.insert_submission(document)
            except PyMongoError as exc:
                ctx.store_failed(exc)
            if outcome is Insert.DONE:
                break
            if outcome is Insert.KEY_TAKEN:
                # A retry, or a concurrent request with the same key that won the race.
                assert idempotency_id is not None
                try:
                    existing = await ctx.store.by_idempotency_id(idempotency_id)
                except PyMongoError as exc:
                    ctx.store_failed(exc)
                if existing is None:
                    raise ctx.unavailable("the submission could not be recorded")
                return await self.replay(existing, request_hash)
        else:
            raise ctx.unavailable("no free receipt code could be drawn")
        assert envelope is not None
        return await self._publish_and_accept(
            dossier_id, lease_owner, envelope, document["response"]
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
        seal = self._ctx.seal
        assert seal is not None
        pseudonym = new_pseudonym()
        sealed = seal.seal(
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

    async def replay(self, existing: dict[str, Any], request_hash: str) -> JSONResponse:
        """Answer a retry: the first answer again, publishing first if it never got out."""
        ctx = self._ctx
        if existing["request_hash"] != request_hash:
            raise Problem(
                409,
                "Idempotency-Key reused",
                "this Idempotency-Key was used for a different submission; use a new key",
            )
        dossier_id = existing["_id"]
        if existing.get("state") == ACCEPTED:
            return self._accepted(existing["response"], replayed=True)
        lease_owner = uuid.uuid4().hex
        now = datetime.now(UTC)
        try:
            claimed = await ctx.store.claim(
                dossier_id, lease_owner, now, now + timedelta(seconds=ctx.settings.publish_lease_s)
            )
            # Accepted since it was read: the first request finished meanwhile.
            if claimed is None and await ctx.store.state(dossier_id) == ACCEPTED:
                return self._accepted(existing["response"], replayed=True)
        except PyMongoError as exc:
            ctx.store_failed(exc)
        if claimed is None:
            raise Problem(
                409,
                "Submission in progress",
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
        replayed: bool = False,
    ) -> JSONResponse:
        ctx = self._ctx
        try:
            await ctx.publisher.publish(envelope, key=dossier_id)
        except KafkaUnavailable as exc:
            log.warning("dossier %s not published: broker unavailable", dossier_id)
            # If the release fails the lease simply runs out before Retry-After does.
            with contextlib.suppress(PyMongoError):
                await ctx.store.release(dossier_id, lease_owner, datetime.now(UTC))
            raise ctx.unavailable("the message broker did not acknowledge the dossier") from exc
        try:
            await ctx.store.mark_accepted(dossier_id, datetime.now(UTC))
        except PyMongoError as exc:
            # The broker holds the event, so the dossier is accepted whatever happens to
            # this write. Should it be lost, a retry publishes the same event id again
            # once the lease runs out, which consumers deduplicate.
            log.warning("acceptance of dossier %s not written: %s", dossier_id, type(exc).__name__)
        return self._accepted(response, replayed=replayed)

    def _accepted(self, response: dict[str, Any], *, replayed: bool) -> JSONResponse:
        keys = self._ctx.require_keys()
        body = SubmissionAccepted(
            **response, follow_up_secret=keys.secret_for(response["dossier_id"])
        )
        headers = {"Location": response["status_url"], "Cache-Control": "no-store"}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse(body.model_dump(mode="json"), status_code=202, headers=headers)


def build_dossier_router(ctx: IntakeContext) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["dossiers"], responses=PROBLEM_RESPONSES)
    caller = require_roles(ctx.settings, Role.PORTAL, Role.OFFICER, Role.LEADER)
    submissions = Submissions(ctx)

    async def rate_limited(principal: Principal = Depends(caller)) -> Principal:
        await ctx.per_client.enforce(principal.actor())
        return principal

    @router.post(
        "/dossiers",
        status_code=202,
        response_model=SubmissionAccepted,
        summary="Submit a dossier, petition, complaint or denunciation",
        description=(
            "Portal clients submit on the online channel (fully online procedures only); "
            "officers key paper dossiers of their agency on the counter channel. A retry "
            "with the same Idempotency-Key returns the first answer."
        ),
    )
    async def submit(
        body: SubmissionIn,
        principal: Principal = Depends(rate_limited),
        idempotency_key: str | None = Header(default=None, alias="Idempotency-Key"),
    ) -> JSONResponse:
        return await submissions.submit(body, principal, idempotency_key)

    return router
