"""The service's `EventPublisher` port on the chassis's Kafka publisher."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from chassis import kafka
from chassis.events import Envelope
from processing.service.ports import PublishUnavailable


class KafkaEventPublisher:
    def __init__(self, publisher: kafka.EventPublisher) -> None:
        self._publisher = publisher

    async def publish_many(
        self,
        envelopes: Sequence[Envelope],
        *,
        trace_carriers: Sequence[Mapping[str, str] | None] | None = None,
    ) -> None:
        try:
            await self._publisher.publish_many(envelopes, trace_carriers=trace_carriers)
        except kafka.KafkaUnavailable as exc:
            raise PublishUnavailable(str(exc)) from exc
