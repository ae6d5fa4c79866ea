"""The testcontainers path: Kafka and the store in containers of a Docker-compatible
engine (Docker, or podman's Docker API socket)."""

from __future__ import annotations

import os

from tests.support.infra import Infra


def start_containers() -> tuple[Infra, list[object]]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.mongodb import MongoDbContainer

    kafka_image = os.environ.get("HOSO_TEST_KAFKA_IMAGE", "apache/kafka:4.1.1")
    mongo_image = os.environ.get("HOSO_TEST_MONGO_IMAGE", "mongo:7")
    kafka = KafkaContainer(kafka_image).with_kraft()
    kafka.start()
    mongo = MongoDbContainer(mongo_image)
    mongo.start()
    return (
        Infra(kafka.get_bootstrap_server(), mongo.get_connection_url(), "testcontainers"),
        [kafka, mongo],
    )
