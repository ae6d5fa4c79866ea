"""Operators' API of the delivery log: listing, one delivery, resending a failed one.

Every parameter is validated against a closed vocabulary or a strict pattern before it
reaches the store, and unknown query parameters are refused (by the chassis, as on every
service), so nothing a caller sends can become a query operator. Responses never carry
an address or a message body: the recipient appears masked, the message by its subject.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from chassis import pagination
from chassis.events import DeliveryChannel
from chassis.openapi import AUTH_PROBLEMS, headers, problem_responses
from chassis.problems import SERVICE_UNAVAILABLE
from notification.api.dependencies import Operator, Service
from notification.api.problems import DELIVERY_NOT_FAILED, DELIVERY_NOT_FOUND
from notification.domain.retry import DeliveryStatus
from notification.service.operators import DeliveryNotFound, NotResendable
from notification.service.ports import Position

__all__ = ["decode_cursor", "encode_cursor", "router"]

DELIVERY_ID = r"^[0-9a-f]{64}$"
# Dossier ids are UUIDs today; the pattern admits any plain identifier, nothing more.
DOSSIER_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
DELIVERY_ID_EXAMPLE = "3c9d0f6e1a2b4c5d8e7f60718293a4b5c6d7e8f9012345678abcdef012345678"
DeliveryId = Annotated[str, Path(pattern=DELIVERY_ID, examples=[DELIVERY_ID_EXAMPLE])]
# The list of deliveries, newest first.
_LIST = "deliveries"
_OPERATOR = (*AUTH_PROBLEMS, SERVICE_UNAVAILABLE)

router = APIRouter(prefix="/v1", tags=["deliveries"])


class DeliveryQuery(BaseModel):
    dossier_id: str | None = Field(default=None, pattern=DOSSIER_ID)
    status: DeliveryStatus | None = None
    channel: DeliveryChannel | None = None
    limit: int = Field(default=50, ge=1, le=200, description="Items per page")
    cursor: str | None = Field(
        default=None,
        max_length=pagination.CURSOR_MAX_LENGTH,
        pattern=pagination.CURSOR_PATTERN,
        description=pagination.CURSOR_DESCRIPTION,
    )


class Attempt(BaseModel):
    attempt: int | None = None
    at: datetime
    outcome: Literal["sent", "retry", "failed", "interrupted", "resend"]
    error: str | None = None
    by: str | None = None


_DELIVERY_EXAMPLE: dict[str, Any] = {
    "id": DELIVERY_ID_EXAMPLE,
    "dossier_id": "0b6f1c3e-8d2a-4f5e-9a71-3c2d1e0f4a5b",
    "receipt_code": "MT-261126-XVQKYC",
    "source_event_id": "6a0f3e2d-1c4b-4a59-8e7d-9f0a1b2c3d4e",
    "source_event_type": "dossier.status-changed.v1",
    "notice_status": "received",
    "channel": "sms",
    "language": "vi",
    "recipient_masked": "091****678",
    "subject": None,
    "status": "failed",
    "attempts": 6,
    "max_attempts": 6,
    "resends": 0,
    "next_attempt_at": None,
    "last_error": "gateway answered 503",
    "outcome_event_id": "7b1e4f3a-2d5c-4b6a-9f8e-0a1b2c3d4e5f",
    "created_at": "2026-11-26T02:15:03Z",
    "updated_at": "2026-11-26T04:40:10Z",
    "sent_at": None,
    "failed_at": "2026-11-26T04:40:10Z",
    "history": [
        {"attempt": 1, "at": "2026-11-26T02:15:04Z", "outcome": "retry", "error": "timeout"},
        {
            "attempt": 6,
            "at": "2026-11-26T04:40:10Z",
            "outcome": "failed",
            "error": "gateway answered 503",
        },
    ],
}


class Delivery(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_DELIVERY_EXAMPLE]})

    id: str
    dossier_id: str
    receipt_code: str
    source_event_id: str
    source_event_type: str
    notice_status: str | None
    channel: DeliveryChannel
    language: str
    recipient_masked: str
    subject: str | None
    status: DeliveryStatus
    attempts: int
    max_attempts: int
    resends: int
    next_attempt_at: datetime | None
    last_error: str | None
    outcome_event_id: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None
    failed_at: datetime | None = None
    history: list[Attempt]


class DeliveryPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [_DELIVERY_EXAMPLE], "next_cursor": "WyJkZWxpdmVyaWVzIl0"}]
        }
    )

    items: list[Delivery]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page (also in the `Link` header); null on "
        "the last page"
    )


def _view(document: dict[str, Any]) -> Delivery:
    # Only the listed fields leave the service: the address and the message never do.
    fields = {k: document.get(k) for k in Delivery.model_fields if k != "id"}
    return Delivery.model_validate({"id": document["_id"], **fields})


def encode_cursor(position: Position) -> str:
    created_at, delivery_id = position
    return pagination.encode_cursor(_LIST, created_at.isoformat(), delivery_id)


def decode_cursor(cursor: str) -> Position:
    found = pagination.decode_cursor(cursor, _LIST)
    if len(found) != 2 or not all(isinstance(part, str) for part in found):
        raise pagination.invalid_cursor()
    try:
        position = datetime.fromisoformat(found[0]), found[1]
    except ValueError as exc:
        raise pagination.invalid_cursor() from exc
    if position[0].tzinfo is None or not re.fullmatch(DELIVERY_ID, position[1]):
        raise pagination.invalid_cursor()
    return position


@router.get(
    "/deliveries",
    summary="Deliveries, newest first, by dossier, status or channel",
    description="One page at a time: pass `next_cursor` back as `cursor` (or follow the "
    "`Link` header) with the same filters. Recipients are masked; messages appear by "
    "their subject only.",
    responses={200: {"headers": headers("Link")}, **problem_responses(*_OPERATOR)},
)
async def list_deliveries(
    request: Request,
    response: Response,
    query: Annotated[DeliveryQuery, Query()],
    _: Operator,
    service: Service,
) -> DeliveryPage:
    documents, last = await service.list_deliveries(
        dossier_id=query.dossier_id,
        status=query.status,
        channel=query.channel,
        after=decode_cursor(query.cursor) if query.cursor else None,
        limit=query.limit,
    )
    next_cursor = encode_cursor(last) if last else None
    pagination.link_next(request, response, next_cursor)
    return DeliveryPage(items=[_view(d) for d in documents], next_cursor=next_cursor)


@router.get(
    "/deliveries/{delivery_id}",
    summary="One delivery with its attempts",
    description="Its status, every attempt with its outcome and error, and who resent it.",
    responses=problem_responses(*_OPERATOR, DELIVERY_NOT_FOUND),
)
async def get_delivery(delivery_id: DeliveryId, _: Operator, service: Service) -> Delivery:
    try:
        return _view(await service.get_delivery(delivery_id))
    except DeliveryNotFound as exc:
        raise DELIVERY_NOT_FOUND(str(exc)) from None


@router.post(
    "/deliveries/{delivery_id}/resend",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Try a failed delivery again (same delivery id, fresh attempts)",
    description="The delivery goes back to `retry_scheduled` with a fresh budget of "
    "attempts; the retry worker sends it. Anything but a failed delivery is refused.",
    responses=problem_responses(*_OPERATOR, DELIVERY_NOT_FOUND, DELIVERY_NOT_FAILED),
)
async def resend_delivery(
    delivery_id: DeliveryId, principal: Operator, service: Service
) -> Delivery:
    try:
        return _view(await service.resend(delivery_id, actor=principal.actor()))
    except DeliveryNotFound as exc:
        raise DELIVERY_NOT_FOUND(str(exc)) from None
    except NotResendable as exc:
        raise DELIVERY_NOT_FAILED(str(exc)) from None
