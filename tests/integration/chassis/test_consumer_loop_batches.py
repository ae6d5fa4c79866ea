"""The shared consumer loop on the real broker: what a batch handler is given."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from pymongo.errors import BulkWriteError

from chassis.events import Topics
from chassis.kafka import ConsumedEvent, ConsumerLoop, EventPublisher, ensure_topics
from chassis.metrics import DEAD_LETTERS
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

    loop = _lifecycle_loop(settings, "loop-test", publisher, handler)
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


async def test_a_batch_whose_store_write_keeps_losing_races_is_retried_not_dead_lettered(
    infra: Infra, run_id: str
) -> None:
    """Two replicas writing the same rows during a rebalance can deadlock in the store
    again and again; the records are not at fault, so none may end on the dead-letter
    topic, however many of the handler's attempts the races use up."""
    settings = ServiceSettings(
        service_name="loop-race-test",
        kafka_bootstrap_servers=infra.kafka,
        kafka_topic_prefix=f"{run_id}-loop-race.",
        kafka_handler_attempts=2,
    )
    await ensure_topics(settings)
    dossier = new_dossier_id()
    events = [
        status_changed(dossier, "received", "in_review", version=2),
        status_changed(dossier, "in_review", "approved", version=3),
    ]
    ids = [event.id for event in events]
    publisher = EventPublisher(settings)
    await publisher.start()
    tries: list[list[str]] = []
    handled: list[str] = []
    lost = {"index": 0, "code": 16908292, "errmsg": "deadlock detected"}

    async def handler(batch: list[ConsumedEvent]) -> None:
        tries.append([item.id for item in batch])
        if len(tries) <= 3:
            raise BulkWriteError({"writeErrors": [lost]})
        handled.extend(item.id for item in batch)

    loop = _lifecycle_loop(settings, "loop-race-test", publisher, handler)
    dead_before = _dead_letters(settings.service_name)
    try:
        await publisher.publish_many(events, keys=[dossier] * 2)
        running = asyncio.create_task(loop.run())

        async def done() -> bool:
            return len(handled) >= 2

        await eventually(done, what="the event handled once the races are over")
        loop.stop()
        await asyncio.wait_for(running, 30)
    finally:
        await publisher.stop()

    assert handled == ids
    # Tried as the batch it came in every time: not given up and split record by record.
    assert tries == [ids] * 4
    assert _dead_letters(settings.service_name) == dead_before


def _dead_letters(service: str) -> float:
    return sum(
        sample.value
        for metric in DEAD_LETTERS.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels["service"] == service
    )


def _lifecycle_loop(
    settings: ServiceSettings,
    group: str,
    publisher: EventPublisher,
    handler: Callable[[list[ConsumedEvent]], Awaitable[None]],
) -> ConsumerLoop:
    return ConsumerLoop(
        settings=settings,
        group=group,
        topics=[Topics.LIFECYCLE],
        publisher=publisher,
        batch_handler=handler,
    )
