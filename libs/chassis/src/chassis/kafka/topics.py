"""The platform's topics and dead-letter topics, created with explicit partition counts."""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from chassis import events
from chassis.events import Topics
from chassis.settings import ServiceSettings


async def ensure_topics(settings: ServiceSettings) -> None:
    """Create the platform's topics with explicit partition counts if they are missing."""
    wanted = {settings.topic(name): parts for name, parts in events.TOPIC_PARTITIONS.items()}
    for group in events.CONSUMER_GROUPS:
        wanted[settings.topic(Topics.dead_letter(group))] = events.DEAD_LETTER_PARTITIONS
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name=name, num_partitions=parts, replication_factor=1)
            for name, parts in wanted.items()
            if name not in existing
        ]
        if missing:
            # Another service may create them at the same moment; that is fine.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
            # Wait until the broker shows them, so a consumer never subscribes to nothing.
            for _ in range(50):
                if set(wanted) <= set(await admin.list_topics()):
                    break
                await asyncio.sleep(0.1)
    finally:
        await admin.close()
