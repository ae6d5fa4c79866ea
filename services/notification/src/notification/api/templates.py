"""Operators' API of the wording: which templates exist, and a notice rendered with
sample data for the people who edit it."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from chassis.events import DeliveryChannel, DossierStatus
from chassis.openapi import AUTH_PROBLEMS, problem_responses
from chassis.problems import VALIDATION_FAILED
from notification.api.dependencies import Operator, Service
from notification.api.problems import TEMPLATE_NOT_RENDERABLE
from notification.domain.policy import NotificationDomainError
from notification.service.operators import StatusNotApplicable

__all__ = ["NoticeType", "router"]

# Only the event types a notice exists for (`domain.policy.NOTICE_TYPES`, which a unit
# test holds this to) are paths; any other type is a 422 at the door.
NoticeType = Literal["dossier.status-changed.v1", "dossier.overdue.v1", "dossier.apology-issued.v1"]

router = APIRouter(prefix="/v1", tags=["templates"])


class PreviewQuery(BaseModel):
    status: DossierStatus | None = Field(
        default=None, description="For status changes: the status the notice announces"
    )


class TemplateEntry(BaseModel):
    event_type: NoticeType
    language: Literal["vi", "en"]
    channels: list[DeliveryChannel]


class TemplateList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "templates": [
                        {
                            "event_type": "dossier.status-changed.v1",
                            "language": "vi",
                            "channels": ["email", "sms", "webhook"],
                        },
                        {
                            "event_type": "dossier.overdue.v1",
                            "language": "en",
                            "channels": ["email", "sms", "webhook"],
                        },
                    ]
                }
            ]
        }
    )

    templates: list[TemplateEntry]


class Preview(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "event_type": "dossier.status-changed.v1",
                    "language": "en",
                    "channel": "sms",
                    "status": "received",
                    "subject": None,
                    "text": "Dossier MT-261126-XVQKYC was received; result due 17/12/2026.",
                    "html": None,
                    "sms_segments": 1,
                }
            ]
        }
    )

    event_type: NoticeType
    language: Literal["vi", "en"]
    channel: DeliveryChannel
    status: DossierStatus | None
    subject: str | None
    text: str
    html: str | None
    sms_segments: int | None = Field(description="SMS only: segments the text needs")


@router.get(
    "/templates",
    summary="Which notice exists in which language on which channel",
    description="Every notice the service can send, by event type and language.",
    responses=problem_responses(*AUTH_PROBLEMS),
)
async def list_templates(_: Operator, service: Service) -> TemplateList:
    return TemplateList.model_validate({"templates": service.list_templates()})


@router.get(
    "/templates/{event_type}/{language}/{channel}/preview",
    summary="A notice rendered with sample data",
    description="What the citizen would receive, for the people who edit the wording; "
    "`status` only for status changes.",
    responses=problem_responses(*AUTH_PROBLEMS, TEMPLATE_NOT_RENDERABLE),
)
async def preview_template(
    event_type: NoticeType,
    language: Literal["vi", "en"],
    channel: DeliveryChannel,
    query: Annotated[PreviewQuery, Query()],
    _: Operator,
    service: Service,
) -> Preview:
    try:
        message = service.preview(
            event_type,
            language,
            channel,
            status=query.status.value if query.status else None,
        )
    except StatusNotApplicable as exc:
        raise VALIDATION_FAILED(
            str(exc),
            errors=[{"pointer": "query:/status", "detail": "not applicable"}],
        ) from None
    except NotificationDomainError as exc:
        raise TEMPLATE_NOT_RENDERABLE(str(exc)) from exc
    return Preview(
        event_type=event_type,
        language=language,
        channel=channel,
        status=query.status,
        subject=message.subject,
        text=message.text,
        html=message.html,
        sms_segments=message.sms_segments,
    )
