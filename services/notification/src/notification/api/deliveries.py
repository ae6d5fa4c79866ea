"""Operators' API of the delivery log: listing, one delivery, resending a failed one.

Every parameter is validated against a closed vocabulary or a strict pattern before it
reaches the store, and unknown query parameters are refused (by the chassis, as on every
service), so nothing a caller sends can become a query operator. Responses never carry
an address or a message body: the recipient appears masked, the message by its subject.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, Field

from chassis.events import DeliveryChannel
from chassis.problems import PROBLEM_RESPONSES, Problem
from notification.api.dependencies import Operator, Service
from notification.domain.retry import DeliveryStatus
from notification.service.operators import DeliveryNotFound, NotResendable
from notification.service.ports import Position

__all__ = ["decode_cursor", "encode_cursor", "router"]

DELIVERY_ID = r"^[0-9a-f]{64}$"
# Dossier ids are UUIDs today; the pattern admits any plain identifier, nothing more.
DOSSIER_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
CURSOR = r"^[A-Za-z0-9_-]{1,400}$"

router = APIRouter(prefix="/v1", tags=["operators"], responses=PROBLEM_RESPONSES)


class DeliveryQuery(BaseModel):
    dossier_id: str | None = Field(default=None, pattern=DOSSIER_ID)
    status: DeliveryStatus | None = None
    channel: DeliveryChannel | None = None
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(
        default=None, pattern=CURSOR, description="`next_cursor` of the previous page"
    )


class Attempt(BaseModel):
    attempt: int | None = None
    at: datetime
    outcome: Literal["sent", "retry", "failed", "interrupted", "resend"]
    error: str | None = None
    by: str | None = None


class Delivery(BaseModel):
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
    items: list[Delivery]
    next_cursor: str | None


def _view(document: dict[str, Any]) -> Delivery:
    # Only the listed fields leave the service: the address and the message never do.
    fields = {k: document.get(k) for k in Delivery.model_fields if k != "id"}
    return Delivery.model_validate({"id": document["_id"], **fields})


def _not_found(exc: DeliveryNotFound) -> Problem:
    return Problem(404, "Delivery not found", str(exc))


def encode_cursor(position: Position) -> str:
    created_at, delivery_id = position
    raw = json.dumps([created_at.isoformat(), delivery_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    bad = Problem(
        422,
        "Request is not valid",
        "cursor is not one this service issued",
        errors=[{"pointer": "query:/cursor", "detail": "invalid cursor"}],
    )
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, delivery_id = json.loads(raw)
        position = datetime.fromisoformat(created_at), str(delivery_id)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise bad from exc
    if position[0].tzinfo is None or not re.fullmatch(DELIVERY_ID, position[1]):
        raise bad
    return position


@router.get("/deliveries", summary="Deliveries, newest first, by dossier, status or channel")
async def list_deliveries(
    query: Annotated[DeliveryQuery, Query()], _: Operator, service: Service
) -> DeliveryPage:
    documents, last = await service.list_deliveries(
        dossier_id=query.dossier_id,
        status=query.status,
        channel=query.channel,
        after=decode_cursor(query.cursor) if query.cursor else None,
        limit=query.limit,
    )
    return DeliveryPage(
        items=[_view(d) for d in documents],
        next_cursor=encode_cursor(last) if last else None,
    )


@router.get("/deliveries/{delivery_id}", summary="One delivery with its attempts")
async def get_delivery(
    delivery_id: Annotated[str, Path(pattern=DELIVERY_ID)], _: Operator, service: Service
) -> Delivery:
    try:
        return _view(await service.get_delivery(delivery_id))
    except DeliveryNotFound as exc:
        raise _not_found(exc) from None


@router.post(
    "/deliveries/{delivery_id}/resend",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Try a failed delivery again (same delivery id, fresh attempts)",
)
async def resend_delivery(
    delivery_id: Annotated[str, Path(pattern=DELIVERY_ID)], principal: Operator, service: Service
) -> Delivery:
    try:
        return _view(await service.resend(delivery_id, actor=principal.actor()))
    except DeliveryNotFound as exc:
        raise _not_found(exc) from None
    except NotResendable as exc:
        raise Problem(409, "Delivery is not failed", str(exc)) from None
