"""Kafka glue of the lifecycle consumer: hands each batch's notices to the use case
(`notification.service.notices.NoticeHandler`) and puts the records of the notices it
can never send on the group's dead-letter topic (`chassis.kafka.send_dead_letter`).
"""

from __future__ import annotations

from chassis.events import Topics
from chassis.kafka import ConsumedEvent, EventPublisher, send_dead_letter
from notification.service.delivery import GROUP
from notification.service.notices import (
    HANDLED_EVENTS,
    LifecycleNotice,
    NoticeData,
    NoticeHandler,
)
from notification.settings import NotificationSettings

__all__ = ["HANDLED_EVENTS", "LifecycleConsumer", "notice_of"]


def notice_of(item: ConsumedEvent) -> LifecycleNotice:
    """The notice a consumed lifecycle event carries (its type one of `HANDLED_EVENTS`)."""
    data = item.payload
    if not isinstance(data, NoticeData):
        raise TypeError(f"{item.envelope.type} carries no notice")
    return LifecycleNotice(
        event_id=item.id,
        event_type=item.envelope.type,
        occurred_at=item.envelope.time,
        data=data,
        # The record's consumer span lives in the dossier's own trace; attempts and
        # outcome events made later by the worker continue that trace.
        trace=item.trace_carrier(),
    )


class LifecycleConsumer:
    def __init__(
        self,
        settings: NotificationSettings,
        handler: NoticeHandler,
        publisher: EventPublisher,
    ) -> None:
        self._handler = handler
        self._publisher = publisher
        self._dead_letter_topic = settings.topic(Topics.dead_letter(GROUP))

    async def handle_batch(self, items: list[ConsumedEvent]) -> None:
        """The consumer loop's batch handler."""
        consumed = [
            (item, notice_of(item)) for item in items if item.envelope.type in HANDLED_EVENTS
        ]
        rejected = await self._handler.handle_batch([notice for _, notice in consumed])
        source = {id(notice): item for item, notice in consumed}
        for rejection in rejected:
            record = source[id(rejection.notice)].record
            await send_dead_letter(
                self._publisher, self._dead_letter_topic, record, rejection.reason, GROUP
            )
