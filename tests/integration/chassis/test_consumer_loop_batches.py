"""The shared consumer loop on the real broker: what a batch handler is given."""

from __future__ import annotations

import asyncio

import pytest

from chassis.events import Topics
from chassis.kafka import ConsumedEvent, ConsumerLoop, EventPublisher, ensure_topics
from chassis.settings import ServiceSettings
from tests.integration.audit.conftest import new_dossier_id, status_changed
from tests.support.infra import Infra
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def test_a_batch_handler_sees_an_event_republished_right_behind_itself_once(
    infra: Infra, run_id: str
) -> None:
    """An outbox relay that crashed after sending republishes under the same id; both
    copies then arrive in one fetch. Handed twice, a handler would act twice (one email
    sent twice) unless every handler guarded against it."""
    settings = ServiceSettings(
        service_name="loop-test",
        kafka_bootstrap_servers=infra.kafka,
        kafka_topic_prefix=f"{run_id}-loop.",
    )
    await ensure_topics(settings)
    dossier = new_dossier_id()
    first = status_changed(dossier, "received", "in_review", version=2)
    second = status_changed(dossier, "in_review", "approved", version=3)
    publisher = EventPublisher(settings)
    await publisher.start()
    seen: list[list[str]] = []

    async def handler(batch: list[ConsumedEvent]) -> None:
        seen.append([item.id for item in batch])

    loop = ConsumerLoop(
        settings=settings,
        group="loop-test",
        topics=[Topics.LIFECYCLE],
        publisher=publisher,
        batch_handler=handler,
    )
    try:
        await publisher.publish_many([first, first, second], keys=[dossier] * 3)
        running = asyncio.create_task(loop.run())

        async def both() -> bool:
            return sum(len(ids) for ids in seen) >= 2

        await eventually(both, what="both events handled")
        await asyncio.sleep(1.0)  # anything more would come now
        loop.stop()
        await asyncio.wait_for(running, 30)
    finally:
        await publisher.stop()

    handled = [event_id for ids in seen for event_id in ids]
    assert handled == [first.id, second.id]
