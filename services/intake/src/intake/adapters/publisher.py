"""The chassis's Kafka publisher behind intake's `Publisher` port."""

from __future__ import annotations

from chassis.events import Envelope
from chassis.kafka import EventPublisher, KafkaUnavailable
from intake.ports import BrokerUnavailable

__all__ = ["KafkaPublisher"]


class KafkaPublisher:
    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    @property
    def started(self) -> bool:
        return self._publisher.started

    async def publish(self, envelope: Envelope, *, key: str) -> None:
        try:
            await self._publisher.publish(envelope, key=key)
        except KafkaUnavailable as exc:
            raise BrokerUnavailable(str(exc)) from exc
