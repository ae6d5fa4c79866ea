"""Operator API: the delivery log, resending a failed delivery, templates and previews.

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

from fastapi import APIRouter, Depends, Path, Query, status
from pydantic import BaseModel, Field

from chassis.auth import Principal, Role, require_roles
from chassis.events import DeliveryChannel, DossierStatus, EventType
from chassis.problems import PROBLEM_RESPONSES, Problem
from notification.adapters.delivery import utcnow
from notification.adapters.store import DeliveryStore
from notification.domain.messages import TemplateCatalogue, sms_segments
from notification.domain.policy import NOTICE_TYPES, NotificationDomainError
from notification.domain.retry import DeliveryStatus
from notification.settings import NotificationSettings

__all__ = ["operator_router"]

DELIVERY_ID = r"^[0-9a-f]{64}$"
# Dossier ids are UUIDs today; the pattern admits any plain identifier, nothing more.
DOSSIER_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
CURSOR = r"^[A-Za-z0-9_-]{1,400}$"

# Only the event types a notice exists for are paths; any other type is a 422 at the door.
NoticeType = Literal[tuple(t.value for t in NOTICE_TYPES)]  # type: ignore[valid-type]


class DeliveryQuery(BaseModel):
    dossier_id: str | None = Field(default=None, pattern=DOSSIER_ID)
    status: DeliveryStatus | None = None
    channel: DeliveryChannel | None = None
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(
        default=None, pattern=CURSOR, description="`next_cursor` of the previous page"
    )


class PreviewQuery(BaseModel):
    status: DossierStatus | None = Field(
        default=None, description="For status changes: the status the notice announces"
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


class TemplateEntry(BaseModel):
    event_type: NoticeType
    language: Literal["vi", "en"]
    channels: list[DeliveryChannel]


class TemplateList(BaseModel):
    templates: list[TemplateEntry]


class Preview(BaseModel):
    event_type: NoticeType
    language: Literal["vi", "en"]
    channel: DeliveryChannel
    status: DossierStatus | None
    subject: str | None
    text: str
    html: str | None
    sms_segments: int | None = Field(description="SMS only: segments the text needs")


def _view(document: dict[str, Any]) -> Delivery:
    # Only the listed fields leave the service: the address and the message never do.
    fields = {k: document.get(k) for k in Delivery.model_fields if k != "id"}
    return Delivery.model_validate({"id": document["_id"], **fields})


def encode_cursor(position: tuple[datetime, str]) -> str:
    created_at, delivery_id = position
    raw = json.dumps([created_at.isoformat(), delivery_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
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


def operator_router(
    settings: NotificationSettings, store: DeliveryStore, catalogue: TemplateCatalogue
) -> APIRouter:
    operator = require_roles(settings, Role.OPERATOR)
    router = APIRouter(prefix="/v1", tags=["operators"], responses=PROBLEM_RESPONSES)

    @router.get("/deliveries", summary="Deliveries, newest first, by dossier, status or channel")
    async def list_deliveries(
        query: Annotated[DeliveryQuery, Query()],
        _: Principal = Depends(operator),
    ) -> DeliveryPage:
        after = decode_cursor(query.cursor) if query.cursor else None
        documents, last = await store.page(
            dossier_id=query.dossier_id,
            status=query.status.value if query.status else None,
            channel=query.channel.value if query.channel else None,
            after=after,
            limit=query.limit,
        )
        return DeliveryPage(
            items=[_view(d) for d in documents],
            next_cursor=encode_cursor(last) if last else None,
        )

    @router.get("/deliveries/{delivery_id}", summary="One delivery with its attempts")
    async def get_delivery(
        delivery_id: Annotated[str, Path(pattern=DELIVERY_ID)],
        _: Principal = Depends(operator),
    ) -> Delivery:
        document = await store.get(delivery_id)
        if document is None:
            raise Problem(404, "Delivery not found", f"no delivery {delivery_id}")
        return _view(document)

    @router.post(
        "/deliveries/{delivery_id}/resend",
        status_code=status.HTTP_202_ACCEPTED,
        summary="Try a failed delivery again (same delivery id, fresh attempts)",
    )
    async def resend_delivery(
        delivery_id: Annotated[str, Path(pattern=DELIVERY_ID)],
        principal: Principal = Depends(operator),
    ) -> Delivery:
        document = await store.resend(
            delivery_id,
            now=utcnow(),
            extra_attempts=settings.max_attempts,
            actor=principal.actor(),
        )
        if document is not None:
            return _view(document)
        current = await store.get(delivery_id)
        if current is None:
            raise Problem(404, "Delivery not found", f"no delivery {delivery_id}")
        raise Problem(
            409,
            "Delivery is not failed",
            f"only a failed delivery can be resent; this one is {current['status']}",
        )

    @router.get("/templates", summary="Which notice exists in which language on which channel")
    async def list_templates(_: Principal = Depends(operator)) -> TemplateList:
        return TemplateList.model_validate({"templates": catalogue.list_templates()})

    @router.get(
        "/templates/{event_type}/{language}/{channel}/preview",
        summary="A notice rendered with sample data",
    )
    async def preview_template(
        event_type: NoticeType,
        language: Literal["vi", "en"],
        channel: DeliveryChannel,
        query: Annotated[PreviewQuery, Query()],
        _: Principal = Depends(operator),
    ) -> Preview:
        if query.status is not None and event_type != EventType.STATUS_CHANGED:
            raise Problem(
                422,
                "Request is not valid",
                "status only applies to dossier.status-changed.v1",
                errors=[{"pointer": "query:/status", "detail": "not applicable"}],
            )
        try:
            message = catalogue.preview(
                event_type,
                language,
                channel,
                new_status=query.status.value if query.status else None,
            )
        except NotificationDomainError as exc:
            raise Problem(422, "Template cannot be rendered", str(exc)) from exc
        return Preview(
            event_type=event_type,
            language=language,
            channel=channel,
            status=query.status,
            subject=message.subject,
            text=message.text,
            html=message.html,
            sms_segments=sms_segments(message.text) if channel is DeliveryChannel.SMS else None,
        )

    return router
