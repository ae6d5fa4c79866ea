"""The status projection through the real consumer loop, broker and store: lifecycle
events fetched together are projected in one write per fetched batch, counted by
`hoso_store_commands_total` on the service's own client."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import date

import pytest
from pydantic import SecretStr

from chassis.events import Envelope, Topics, make_event
from chassis.kafka import ConsumerLoop, EventPublisher, ensure_topics
from chassis.mongo import connect
from intake.adapters.projection import StatusProjection
from intake.adapters.store import IntakeStore
from intake.settings import IntakeSettings
from tests.integration.intake.intake_support import status_changed
from tests.support.infra import Infra
from tests.support.store_commands import all_commands_sent
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

DOSSIERS = 10


async def test_events_fetched_together_are_projected_in_one_write_per_batch(
    infra: Infra, run_id: str
) -> None:
    name = f"{run_id}_intake_projection_trips"
    settings = IntakeSettings(
        service_name=f"intake-projection-trips-{run_id}",
        kafka_bootstrap_servers=infra.kafka,
        kafka_topic_prefix=f"{run_id}-intake-projection-trips.",
        mongodb_uri=SecretStr(infra.mongodb),
        mongodb_database=name,
    )
    await ensure_topics(settings)
    publisher = EventPublisher(settings)
    await publisher.start()
    client, db = connect(settings)
    store = IntakeStore(db)
    # Three versions of each dossier, the last restating nothing about the date: all on
    # the topic before the consumer starts, so its fetches carry many at once.
    dossiers = [str(uuid.uuid4()) for _ in range(DOSSIERS)]
    events: list[Envelope] = []
    for n, dossier_id in enumerate(dossiers):
        code = f"MT-261126-{n:06d}"
        events += [
            make_event(
                status_changed(dossier_id, code, 1, "received", due_date=date(2026, 12, 24)),
                source="/hoso/processing",
                actor="system:processing",
            ),
            make_event(
                status_changed(dossier_id, code, 2, "in_review"),
                source="/hoso/processing",
                actor="officer:an",
            ),
            make_event(
                status_changed(dossier_id, code, 3, "supplement_requested"),
                source="/hoso/processing",
                actor="officer:an",
            ),
        ]
    await publisher.publish_many(events, keys=[e.data["dossier_id"] for e in events])
    loop = ConsumerLoop(
        settings=settings,
        group="intake",
        topics=[Topics.LIFECYCLE],
        publisher=publisher,
        batch_handler=StatusProjection(store).handle_batch,
    )
    before = all_commands_sent(settings.service_name)
    running = asyncio.create_task(loop.run())
    try:

        async def all_projected() -> bool:
            statuses = db["statuses"].find({"_id": {"$in": dossiers}}, {"version": 1})
            return [s["version"] async for s in statuses] == [3] * DOSSIERS

        await eventually(all_projected, timeout_s=60, what="every dossier at version 3")
        projected = await store.status(dossiers[0])
        assert projected is not None
        assert projected["status"] == "supplement_requested"
        assert projected["due_date"] == "2026-12-24"
        # One update per fetched batch, not one per event (thirty of them).
        writes = all_commands_sent(settings.service_name) - before
        assert 1 <= writes <= len(events) / 3, writes
    finally:
        loop.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(running, timeout=15)
        await publisher.stop()
        await client.drop_database(name)
        await client.close()
