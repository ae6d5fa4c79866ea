"""The platform's topics and dead-letter topics, created with explicit partition counts,
replication factor and ``min.insync.replicas``."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from chassis import events
from chassis.events import Topics
from chassis.settings import ServiceSettings

log = logging.getLogger(__name__)

# What an unset KAFKA_REPLICATION_FACTOR / KAFKA_MIN_INSYNC_REPLICAS mean on a cluster:
# one broker may die (or be restarted) with every acknowledged event kept and every write
# still accepted.
DEFAULT_REPLICATION_FACTOR = 3
DEFAULT_MIN_INSYNC_REPLICAS = 2


class TopicsNotCreated(Exception):
    """The cluster refused to create a topic (too few brokers for the replication factor,
    or a bad setting); creating them is retried by the service until it succeeds."""


@dataclass(frozen=True)
class Replication:
    factor: int
    min_insync: int


def replication_for(settings: ServiceSettings, brokers: int) -> Replication:
    """The replication the topics get on a cluster that has ``brokers`` brokers now.

    Settings that are set are demanded as they are: a cluster that has too few brokers
    refuses the topics, which is right while a cluster is still coming up (topics made on
    the first broker alone would keep one copy for good). Unset, they mean 3 and 2, except
    on a lone broker, where one copy is all there can be."""
    factor = settings.kafka_replication_factor
    min_insync = settings.kafka_min_insync_replicas
    if factor is None:
        factor = DEFAULT_REPLICATION_FACTOR if brokers != 1 else 1
        if brokers == 1:
            log.warning(
                "a single Kafka broker: topics get one copy; set KAFKA_REPLICATION_FACTOR "
                "and KAFKA_MIN_INSYNC_REPLICAS (3 and 2 on a cluster of three) to demand more"
            )
    if min_insync is None:
        min_insync = min(DEFAULT_MIN_INSYNC_REPLICAS, factor)
    return Replication(factor, min_insync)


def wanted_topics(settings: ServiceSettings) -> dict[str, int]:
    """Every topic the platform needs, with its partition count."""
    wanted = {settings.topic(name): parts for name, parts in events.TOPIC_PARTITIONS.items()}
    for group in events.CONSUMER_GROUPS:
        wanted[settings.topic(Topics.dead_letter(group))] = events.DEAD_LETTER_PARTITIONS
    return wanted


def new_topics(wanted: dict[str, int], replication: Replication) -> list[NewTopic]:
    return [
        NewTopic(
            name=name,
            num_partitions=parts,
            replication_factor=replication.factor,
            topic_configs={"min.insync.replicas": str(replication.min_insync)},
        )
        for name, parts in wanted.items()
    ]


def under_replicated(described: list[dict[str, Any]], factor: int) -> dict[str, int]:
    """Topics (of a ``describe_topics`` answer) holding fewer copies than ``factor``, with
    the fewest copies any of their partitions has."""
    short: dict[str, int] = {}
    for topic in described:
        partitions = topic.get("partitions") or []
        if topic.get("error_code") or not partitions:
            continue
        copies = min(len(p["replicas"]) for p in partitions)
        if copies < factor:
            short[topic["topic"]] = copies
    return short


async def ensure_topics(settings: ServiceSettings) -> None:
    """Create the platform's topics if they are missing; warn about existing ones that
    keep fewer copies than asked (they are left as they are: raising a topic's replication
    factor is a partition reassignment, an operator's decision)."""
    wanted = wanted_topics(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        replication = replication_for(settings, len(cluster["brokers"]))
        existing = set(await admin.list_topics())
        present = [name for name in wanted if name in existing]
        if present:
            for name, copies in under_replicated(
                await admin.describe_topics(present), replication.factor
            ).items():
                log.warning(
                    "topic %s keeps %d cop%s of each record, fewer than the replication "
                    "factor %d asked for; it is left as it is (an operator reassigns its "
                    "partitions to raise it)",
                    name,
                    copies,
                    "y" if copies == 1 else "ies",
                    replication.factor,
                )
        missing = {name: parts for name, parts in wanted.items() if name not in existing}
        if missing:
            response = await admin.create_topics(new_topics(missing, replication))
            refused = [
                (name, code, message)
                for name, code, message in _topic_errors(response)
                # Another service may create them at the same moment; that is fine.
                if code != TopicAlreadyExistsError.errno
            ]
            if refused:
                name, code, message = refused[0]
                text = (
                    f"Kafka refused to create {len(refused)} topic(s), e.g. {name} "
                    f"(error {code}: {message}); replication factor {replication.factor}, "
                    f"min.insync.replicas {replication.min_insync}, "
                    f"{len(cluster['brokers'])} broker(s) up"
                )
                log.error(text)
                raise TopicsNotCreated(text)
            # Wait until the broker shows them, so a consumer never subscribes to nothing.
            for _ in range(50):
                if set(wanted) <= set(await admin.list_topics()):
                    break
                await asyncio.sleep(0.1)
    finally:
        await admin.close()


def _topic_errors(response: Any) -> list[tuple[str, int, str]]:
    errors = []
    for entry in response.topic_errors:
        # v0 answers (name, code); later versions add the broker's message.
        name, code = entry[0], entry[1]
        message = entry[2] if len(entry) > 2 else ""
        if code:
            errors.append((name, code, message or ""))
    return errors
