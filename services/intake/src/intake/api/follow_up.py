"""Citizen follow-up: status, supplement and withdrawal by receipt code and second factor.

Public (no token) and rate-limited per client IP. An unknown receipt code and a known
one with a wrong second factor get the very same 404 after the very same work, so
codes cannot be enumerated through this door.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response
from pymongo.errors import PyMongoError

from chassis.catalogue import Procedure
from chassis.events import DossierSupplemented, DossierWithdrawalRequested, make_event
from chassis.kafka import KafkaUnavailable
from chassis.problems import PROBLEM_RESPONSES, Problem, problem_response
from intake.adapters.store import ACCEPTED
from intake.api.context import IntakeContext
from intake.api.dossiers import SOURCE, refusal_problem
from intake.api.models import DossierStatusOut, FollowUpAccepted, SupplementIn, WithdrawalIn
from intake.domain.applicant import normalise_phone
from intake.domain.follow_up import FollowUpKeys, second_factor_matches
from intake.domain.receipt import is_valid_receipt_code, normalise_receipt_code
from intake.domain.submission import (
    AttachmentLimits,
    AttachmentRef,
    Refusal,
    attachment_errors,
    fingerprint,
)

log = logging.getLogger("intake.follow_up")

# Statuses after which a dossier can no longer be withdrawn (processing's terminal ones).
TERMINAL = frozenset({"result_returned", "withdrawn"})
SUPPLEMENT_REQUESTED = "supplement_requested"
# Event ids of citizen requests are derived, so a double click or a retried request
# publishes an event consumers already know.
_EVENT_NAMESPACE = uuid.UUID("6f1c2a52-3c1e-4d55-9d0c-6a1f3f2b7c11")


class ConcealedNotFound(Problem):
    """The one answer to an unknown code and to a wrong second factor alike; rendered
    without ``instance`` so not even the echoed path tells two answers apart."""

    def __init__(self) -> None:
        super().__init__(
            404, "Dossier not found", "no dossier matches this receipt code and second factor"
        )


async def render_concealed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConcealedNotFound)
    return problem_response(exc)


def _not_found() -> Problem:
    return ConcealedNotFound()


class FollowUp:
    def __init__(self, ctx: IntakeContext) -> None:
        self._ctx = ctx

    def _client_ip(self, request: Request) -> str:
        return request.client.host if request.client else "unknown"

    async def open(
        self,
        request: Request,
        receipt_code: str,
        secret: str | None,
        phone: str | None,
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The submission and its status if the second factor matches; else 404."""
        ctx = self._ctx
        await ctx.per_ip.enforce(self._client_ip(request))
        if not secret and not phone:
            raise Problem(
                401,
                "Second factor required",
                "send the follow-up secret (X-Follow-Up-Secret) or the applicant's phone "
                "number (X-Applicant-Phone)",
            )
        keys = ctx.require_keys()
        try:
            canonical = normalise_receipt_code(receipt_code)
        except ValueError:
            canonical = receipt_code[:40]
        if not secret:
            # Phone numbers are few: guesses are counted per code, known or not.
            wait = await ctx.phone_failures.would_exceed(canonical)
            if wait is not None:
                raise Problem(
                    429,
                    "Too many requests",
                    f"too many wrong phone numbers for this code; retry in {wait} s",
                    headers={"Retry-After": str(wait)},
                )
        try:
            submission = (
                await ctx.store.for_follow_up(canonical)
                if is_valid_receipt_code(canonical)
                else await ctx.store.for_follow_up("")
            )
        except PyMongoError as exc:
            ctx.store_failed(exc)
        matched = self._matches(keys, submission, secret, phone)
        if not matched:
            if not secret:
                await ctx.phone_failures.retry_after(canonical)
            raise _not_found()
        assert submission is not None
        try:
            status = await ctx.store.status(submission["_id"])
        except PyMongoError as exc:
            ctx.store_failed(exc)
        # A submission the broker never acknowledged was never answered with a receipt.
        if status is None and submission.get("state") != ACCEPTED:
            raise _not_found()
        return submission, status

    @staticmethod
    def _matches(
        keys: FollowUpKeys,
        submission: dict[str, Any] | None,
        secret: str | None,
        phone: str | None,
    ) -> bool:
        offered: str | None = None
        if not secret and phone is not None:
            try:
                offered = normalise_phone(phone)
            except ValueError:
                offered = phone
        return second_factor_matches(keys, submission, secret, offered)

    def procedure(self, submission: dict[str, Any]) -> Procedure:
        procedure = self._ctx.catalogue.get(submission["procedure_code"])
        if procedure is None:
            raise Problem(410, "Procedure withdrawn", "the procedure left the catalogue")
        return procedure

    def status_body(
        self, submission: dict[str, Any], status: dict[str, Any] | None
    ) -> DossierStatusOut:
        procedure = self.procedure(submission)
        status = status or {}
        return DossierStatusOut(
            receipt_code=submission["receipt_code"],
            procedure_code=procedure.code,
            procedure_name_vi=procedure.name_vi,
            procedure_name_en=procedure.name_en,
            status=status.get("status", "submitted"),
            due_date=status.get("due_date") or submission.get("due_date"),
            missing_documents=status.get("missing_documents") or [],
            updated_at=status.get("updated_at") or submission["received_at"],
        )

    async def publish(self, submission: dict[str, Any], envelope_data: Any, event_id: str) -> None:
        ctx = self._ctx
        actor = f"citizen:{submission.get('pseudonym') or submission['_id']}"
        envelope = make_event(envelope_data, source=SOURCE, actor=actor, event_id=event_id)
        try:
            await ctx.publisher.publish(envelope, key=submission["_id"])
        except KafkaUnavailable as exc:
            raise ctx.unavailable("the message broker did not acknowledge the request") from exc


def _event_id(dossier_id: str, what: str, version: int, body_hash: str) -> str:
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{dossier_id}/{what}/{version}/{body_hash}"))


def build_follow_up_router(ctx: IntakeContext) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["follow-up"], responses=PROBLEM_RESPONSES)
    follow_up = FollowUp(ctx)
    limits = AttachmentLimits(
        max_count=ctx.settings.attachment_max_count,
        max_bytes=ctx.settings.attachment_max_bytes,
        max_total_bytes=ctx.settings.attachment_max_total_bytes,
        media_types=frozenset(ctx.settings.attachment_media_types),
    )
    secret_header = Header(
        default=None, alias="X-Follow-Up-Secret", description="the secret from the receipt"
    )
    phone_header = Header(
        default=None, alias="X-Applicant-Phone", description="or the applicant's phone number"
    )

    @router.get(
        "/dossiers/{receipt_code}/status",
        response_model=DossierStatusOut,
        summary="Status of a dossier, for the citizen who holds its receipt",
    )
    async def status(
        request: Request,
        receipt_code: str,
        secret: str | None = secret_header,
        phone: str | None = phone_header,
    ) -> JSONResponse:
        submission, projection = await follow_up.open(request, receipt_code, secret, phone)
        body = follow_up.status_body(submission, projection)
        return JSONResponse(body.model_dump(mode="json"), headers={"Cache-Control": "no-store"})

    @router.post(
        "/dossiers/{receipt_code}/supplements",
        status_code=202,
        response_model=FollowUpAccepted,
        summary="Hand in the documents processing asked for",
    )
    async def supplement(
        request: Request,
        receipt_code: str,
        body: SupplementIn,
        secret: str | None = secret_header,
        phone: str | None = phone_header,
    ) -> JSONResponse:
        submission, projection = await follow_up.open(request, receipt_code, secret, phone)
        if projection is None or projection.get("status") != SUPPLEMENT_REQUESTED:
            raise Problem(
                409,
                "No supplement requested",
                "documents can be added only while the dossier awaits a supplement",
            )
        procedure = follow_up.procedure(submission)
        errors = attachment_errors(
            procedure,
            [AttachmentRef(a.document_code, a.media_type, a.size) for a in body.attachments],
            limits,
        )
        if errors:
            raise refusal_problem(Refusal(422, "Supplement is not valid", errors[0].detail, errors))
        now = datetime.now(UTC)
        data = DossierSupplemented(
            dossier_id=submission["_id"],
            receipt_code=submission["receipt_code"],
            supplemented_at=now,
            attachments=[a.model_dump() for a in body.attachments],
            note=body.note,
        )
        event_id = _event_id(
            submission["_id"],
            "supplement",
            int(projection.get("version", 0)),
            fingerprint(body.model_dump(mode="json")),
        )
        await follow_up.publish(submission, data, event_id)
        accepted = FollowUpAccepted(
            receipt_code=submission["receipt_code"], request="supplement", accepted_at=now
        )
        return JSONResponse(accepted.model_dump(mode="json"), status_code=202)

    @router.post(
        "/dossiers/{receipt_code}/withdrawal",
        status_code=202,
        response_model=FollowUpAccepted,
        summary="Ask to withdraw a dossier that is not yet settled",
    )
    async def withdrawal(
        request: Request,
        receipt_code: str,
        body: WithdrawalIn | None = None,
        secret: str | None = secret_header,
        phone: str | None = phone_header,
    ) -> JSONResponse:
        submission, projection = await follow_up.open(request, receipt_code, secret, phone)
        current = (projection or {}).get("status", "submitted")
        if current in TERMINAL:
            raise Problem(
                409, "Dossier already settled", f"a dossier in status {current} cannot be withdrawn"
            )
        now = datetime.now(UTC)
        reason = body.reason if body is not None else None
        data = DossierWithdrawalRequested(
            dossier_id=submission["_id"],
            receipt_code=submission["receipt_code"],
            requested_at=now,
            reason=reason,
        )
        event_id = _event_id(
            submission["_id"],
            "withdrawal",
            int((projection or {}).get("version", 0)),
            fingerprint({"reason": reason}),
        )
        await follow_up.publish(submission, data, event_id)
        accepted = FollowUpAccepted(
            receipt_code=submission["receipt_code"], request="withdrawal", accepted_at=now
        )
        return JSONResponse(accepted.model_dump(mode="json"), status_code=202)

    return router
