"""Citizen follow-up: status, supplement and withdrawal by receipt code and second factor.

An unknown receipt code and a known one with a wrong second factor get the very same
404 after the very same work, so codes cannot be enumerated through this door.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chassis.catalogue import Catalogue, Procedure
from chassis.events import DossierSupplemented, DossierWithdrawalRequested, EventData, make_event
from chassis.problems import TOO_MANY_REQUESTS
from intake.api.models import (
    DossierStatusOut,
    FollowUpAccepted,
    ResultDocumentOut,
    SupplementIn,
    WithdrawalIn,
)
from intake.domain.applicant import normalise_phone
from intake.domain.follow_up import FollowUpKeys, second_factor_matches
from intake.domain.receipt import is_valid_receipt_code, normalise_receipt_code
from intake.domain.submission import FieldError, Refusal, attachment_errors, fingerprint
from intake.ports import (
    ACCEPTED,
    BrokerUnavailable,
    Clock,
    DocumentStore,
    Publisher,
    StoreUnavailable,
    SubmissionStore,
    Throttle,
)
from intake.problems import (
    DOSSIER_SETTLED,
    NO_SUPPLEMENT_REQUESTED,
    PROCEDURE_WITHDRAWN,
    SECOND_FACTOR_REQUIRED,
)
from intake.service.common import (
    SOURCE,
    ConcealedNotFound,
    attachment_limits,
    refusal_problem,
    require_keys,
    store_failed,
    unavailable,
    utc_now,
)
from intake.service.documents import resolve_attachments
from intake.settings import IntakeSettings

__all__ = ["FollowUp", "SecondFactor"]

# Statuses after which a dossier can no longer be withdrawn (processing's terminal ones).
TERMINAL = frozenset({"result_returned", "withdrawn"})
# The signed result is the citizen's once the dossier is decided in its favour.
_RESULT_VISIBLE = frozenset({"approved", "result_returned"})
SUPPLEMENT_REQUESTED = "supplement_requested"
# Event ids of citizen requests are derived, so a double click or a retried request
# publishes an event consumers already know.
_EVENT_NAMESPACE = uuid.UUID("6f1c2a52-3c1e-4d55-9d0c-6a1f3f2b7c11")


@dataclass(frozen=True)
class SecondFactor:
    """What the citizen shows besides the receipt code: the secret, or else the phone."""

    secret: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class _Opened:
    submission: dict[str, Any]
    status: dict[str, Any] | None


class FollowUp:
    def __init__(
        self,
        *,
        store: SubmissionStore,
        publisher: Publisher,
        catalogue: Catalogue,
        keys: FollowUpKeys | None,
        phone_failures: Throttle,
        settings: IntakeSettings,
        documents: DocumentStore,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._documents = documents
        self._publisher = publisher
        self._catalogue = catalogue
        self._keys = keys
        self._phone_failures = phone_failures
        self._settings = settings
        self._clock = clock
        self._limits = attachment_limits(settings)

    # ----------------------------------------------------------------- use cases

    async def status(self, receipt_code: str, factor: SecondFactor) -> DossierStatusOut:
        opened = await self._open(receipt_code, factor)
        procedure = self._procedure(opened.submission)
        submission, status = opened.submission, opened.status or {}
        state = status.get("status", "submitted")
        result = None
        if state in _RESULT_VISIBLE:
            try:
                issued = await self._documents.issued_result(submission["_id"])
            except StoreUnavailable as exc:
                store_failed(exc, self._settings)
            if issued is not None:
                result = ResultDocumentOut(
                    document_id=issued["document_id"],
                    sha256=issued["sha256"],
                    size=issued["size"],
                    decision_number=issued.get("decision_number"),
                    issued_at=issued["issued_at"],
                )
        return DossierStatusOut(
            receipt_code=submission["receipt_code"],
            procedure_code=procedure.code,
            procedure_name_vi=procedure.name_vi,
            procedure_name_en=procedure.name_en,
            status=state,
            due_date=status.get("due_date") or submission.get("due_date"),
            missing_documents=status.get("missing_documents") or [],
            missing_items=status.get("missing_items") or [],
            updated_at=status.get("updated_at") or submission["received_at"],
            result_document=result,
        )

    async def supplement(
        self, receipt_code: str, factor: SecondFactor, body: SupplementIn
    ) -> FollowUpAccepted:
        """Hand in the documents processing asked for, while it waits for them."""
        opened = await self._open(receipt_code, factor)
        submission, projection = opened.submission, opened.status
        if projection is None or projection.get("status") != SUPPLEMENT_REQUESTED:
            raise NO_SUPPLEMENT_REQUESTED(
                "documents can be added only while the dossier awaits a supplement"
            )
        procedure = self._procedure(submission)
        refs = [a.ref() for a in body.attachments]
        errors = attachment_errors(procedure, refs, self._limits)
        document_ids: list[str] = []
        if not errors:
            try:
                errors, document_ids = await resolve_attachments(self._documents, body.attachments)
                kept = 0
                if not errors:
                    kept = await self._documents.attach(
                        submission["_id"], document_ids, self._clock()
                    )
                if not errors and kept != len(set(document_ids)):
                    errors = [FieldError("/attachments", "upload the documents again")]
            except StoreUnavailable as exc:
                store_failed(exc, self._settings)
        if errors:
            raise refusal_problem(
                Refusal(
                    422,
                    "Supplement is not valid",
                    errors[0].detail,
                    errors,
                    reason="supplement-invalid",
                )
            )
        now = self._clock()
        data = DossierSupplemented(
            dossier_id=submission["_id"],
            receipt_code=submission["receipt_code"],
            supplemented_at=now,
            attachments=[
                {**a.model_dump(), "document_id": document_id}
                for a, document_id in zip(body.attachments, document_ids, strict=True)
            ],
            note=body.note,
        )
        event_id = _event_id(
            submission["_id"],
            "supplement",
            int(projection.get("version", 0)),
            fingerprint(body.model_dump(mode="json")),
        )
        await self._publish(submission, data, event_id, now)
        return FollowUpAccepted(
            receipt_code=submission["receipt_code"], request="supplement", accepted_at=now
        )

    async def withdraw(
        self, receipt_code: str, factor: SecondFactor, body: WithdrawalIn | None
    ) -> FollowUpAccepted:
        """Ask processing to withdraw a dossier that is not settled yet."""
        opened = await self._open(receipt_code, factor)
        submission, projection = opened.submission, opened.status or {}
        current = projection.get("status", "submitted")
        if current in TERMINAL:
            raise DOSSIER_SETTLED(f"a dossier in status {current} cannot be withdrawn")
        now = self._clock()
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
            int(projection.get("version", 0)),
            fingerprint({"reason": reason}),
        )
        await self._publish(submission, data, event_id, now)
        return FollowUpAccepted(
            receipt_code=submission["receipt_code"], request="withdrawal", accepted_at=now
        )

    async def opened_submission(self, receipt_code: str, factor: SecondFactor) -> dict[str, Any]:
        """The submission the receipt code and second factor open (its documents are read
        through this same door); the concealed 404 otherwise."""
        return (await self._open(receipt_code, factor)).submission

    # ----------------------------------------------------------------- steps

    async def _open(self, receipt_code: str, factor: SecondFactor) -> _Opened:
        """The submission and its status if the second factor matches; else 404."""
        secret, phone = factor.secret, factor.phone
        if not secret and not phone:
            raise SECOND_FACTOR_REQUIRED(
                "send the follow-up secret (X-Follow-Up-Secret) or the applicant's phone "
                "number (X-Applicant-Phone)",
            )
        keys = require_keys(self._keys)
        try:
            canonical = normalise_receipt_code(receipt_code)
        except ValueError:
            canonical = receipt_code[:40]
        if not secret:
            # Phone numbers are few: guesses are counted per code, known or not.
            wait = await self._phone_failures.would_exceed(canonical)
            if wait is not None:
                raise TOO_MANY_REQUESTS(
                    f"too many wrong phone numbers for this code; retry in {wait} s",
                    headers={"Retry-After": str(wait)},
                )
        try:
            # An invalid code is looked up as "", which is never found, so that it costs
            # what an unknown valid one costs.
            submission = await self._store.for_follow_up(
                canonical if is_valid_receipt_code(canonical) else ""
            )
        except StoreUnavailable as exc:
            store_failed(exc, self._settings)
        if not _matches(keys, submission, secret, phone):
            if not secret:
                await self._phone_failures.retry_after(canonical)
            raise ConcealedNotFound()
        assert submission is not None
        try:
            status = await self._store.status(submission["_id"])
        except StoreUnavailable as exc:
            store_failed(exc, self._settings)
        # A submission the broker never acknowledged was never answered with a receipt.
        if status is None and submission.get("state") != ACCEPTED:
            raise ConcealedNotFound()
        return _Opened(submission, status)

    def _procedure(self, submission: dict[str, Any]) -> Procedure:
        procedure = self._catalogue.get(submission["procedure_code"])
        if procedure is None:
            raise PROCEDURE_WITHDRAWN("the procedure left the catalogue")
        return procedure

    async def _publish(
        self, submission: dict[str, Any], data: EventData, event_id: str, now: datetime
    ) -> None:
        actor = f"citizen:{submission.get('pseudonym') or submission['_id']}"
        envelope = make_event(data, source=SOURCE, actor=actor, event_id=event_id, time=now)
        try:
            await self._publisher.publish(envelope, key=submission["_id"])
        except BrokerUnavailable as exc:
            raise unavailable(
                "the message broker did not acknowledge the request", self._settings
            ) from exc


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


def _event_id(dossier_id: str, what: str, version: int, body_hash: str) -> str:
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{dossier_id}/{what}/{version}/{body_hash}"))
