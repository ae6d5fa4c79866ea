"""The operators' use cases: the delivery log, resending a failed delivery, the template
catalogue and previews of its wording."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chassis.events import DeliveryChannel, EventType
from notification.domain.messages import TemplateCatalogue, sms_segments
from notification.domain.retry import DeliveryStatus
from notification.service.ports import Clock, DeliveryLog, Page, Position, utcnow
from notification.settings import NotificationSettings

__all__ = [
    "DeliveryNotFound",
    "NotResendable",
    "Operators",
    "StatusNotApplicable",
    "TemplatePreview",
]


class DeliveryNotFound(LookupError):
    def __init__(self, delivery_id: str) -> None:
        super().__init__(f"no delivery {delivery_id}")
        self.delivery_id = delivery_id


class NotResendable(Exception):
    """Only a failed delivery can be resent; ``status`` is what it is instead."""

    def __init__(self, status: str) -> None:
        super().__init__(f"only a failed delivery can be resent; this one is {status}")
        self.status = status


class StatusNotApplicable(ValueError):
    """A preview was asked for with a status, for a notice that announces none."""

    def __init__(self) -> None:
        super().__init__(f"status only applies to {EventType.STATUS_CHANGED.value}")


@dataclass(frozen=True, slots=True)
class TemplatePreview:
    subject: str | None
    text: str
    html: str | None
    sms_segments: int | None  # SMS only: the segments the text needs


class Operators:
    def __init__(
        self,
        settings: NotificationSettings,
        store: DeliveryLog,
        catalogue: TemplateCatalogue,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._settings = settings
        self._store = store
        self._catalogue = catalogue
        self._clock = clock

    async def list_deliveries(
        self,
        *,
        dossier_id: str | None,
        status: DeliveryStatus | None,
        channel: DeliveryChannel | None,
        after: Position | None,
        limit: int,
    ) -> Page:
        """Deliveries newest first, narrowed by dossier, status or channel, one page."""
        return await self._store.page(
            dossier_id=dossier_id,
            status=status.value if status else None,
            channel=channel.value if channel else None,
            after=after,
            limit=limit,
        )

    async def get_delivery(self, delivery_id: str) -> dict[str, Any]:
        document = await self._store.get(delivery_id)
        if document is None:
            raise DeliveryNotFound(delivery_id)
        return document

    async def resend(self, delivery_id: str, *, actor: str) -> dict[str, Any]:
        """A failed delivery → retry_scheduled, due now, with a fresh budget of attempts;
        the retry worker makes them. The same delivery id, so the same message."""
        document = await self._store.resend(
            delivery_id,
            now=self._clock(),
            extra_attempts=self._settings.max_attempts,
            actor=actor,
        )
        if document is not None:
            return document
        current = await self.get_delivery(delivery_id)
        raise NotResendable(str(current["status"]))

    def list_templates(self) -> list[dict[str, Any]]:
        """Which notice exists in which language on which channel."""
        return self._catalogue.list_templates()

    def preview(
        self,
        event_type: str,
        language: str,
        channel: DeliveryChannel,
        *,
        status: str | None,
    ) -> TemplatePreview:
        """A notice rendered with sample data. Raises `StatusNotApplicable`, or the
        domain's `NotificationDomainError` when the wording cannot be rendered."""
        if status is not None and event_type != EventType.STATUS_CHANGED:
            raise StatusNotApplicable()
        message = self._catalogue.preview(event_type, language, channel, new_status=status)
        return TemplatePreview(
            subject=message.subject,
            text=message.text,
            html=message.html,
            sms_segments=sms_segments(message.text) if channel is DeliveryChannel.SMS else None,
        )
